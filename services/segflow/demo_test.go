package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/testenv"
)

// demoRun is one `segflow run --demo` on redisAddr, with its own embedded
// Kafka, served until stop is called or the test ends (a test that fails
// must not leave it running into the next one, which counts consumers).
type demoRun struct {
	base, kafka string
	stop        func()
}

func startDemo(t *testing.T, redisAddr string) *demoRun {
	t.Helper()
	addr, kafkaAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cfg, err := parseConfig("run", []string{"--demo", "--campaigns", "../../deploy/campaigns.yaml", "--redis-addr", redisAddr,
		"--http-addr", addr, "--embedded-kafka-addr", kafkaAddr, "--partitions", "2", "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "run", cfg) }()
	d := &demoRun{base: "http://" + addr, kafka: kafkaAddr}
	d.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	t.Cleanup(d.stop)
	return d
}

// waitReady waits until /readyz answers 200: the demo's load is done.
func (d *demoRun) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(d.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the demo was not ready within %s", within)
}

func (d *demoRun) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", d.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+devAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

type demoCounts struct {
	Buyers   int              `json:"buyers"`
	Segments map[string]int64 `json:"segments"`
}

type demoDays struct {
	Days []struct {
		Date string `json:"date"`
	} `json:"days"`
}

type campaignResults struct {
	Campaigns []struct {
		Campaign string `json:"campaign"`
		Treated  struct {
			Decided   int64  `json:"decided"`
			Converted int64  `json:"converted"`
			Revenue   string `json:"revenue"`
		} `json:"treated"`
		Holdout struct {
			Decided int64 `json:"decided"`
		} `json:"holdout"`
	} `json:"campaigns"`
}

// sample reads the sample file here (not through pkg/demo): the customers
// with an order in the year before T (the buyers of the RFM window as of T),
// and the days the clock stops at while it is loaded: each Monday from the
// first on or after the first order's day to the first on or after the last
// order's day, then T's day.
func sample(t *testing.T, T time.Time) (buyers int, stops []string) {
	t.Helper()
	f, err := os.Open("../../pkg/demo/cdnow/CDNOW_sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := map[string]bool{}
	var first, last time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		day, err := time.Parse("20060102", fields[2])
		if err != nil {
			t.Fatal(err)
		}
		if first.IsZero() || day.Before(first) {
			first = day
		}
		if day.After(last) {
			last = day
		}
		if day.After(T.AddDate(0, 0, -365)) {
			in[fields[0]] = true
		}
	}
	monday := func(d time.Time) time.Time { // the first Monday on or after d
		for d.Weekday() != time.Monday {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	for d := monday(first); !d.After(monday(last)); d = d.AddDate(0, 0, 7) {
		stops = append(stops, d.Format(time.DateOnly))
	}
	return len(in), append(stops, T.Format(time.DateOnly))
}

// TestDemoLoadsTheSampleWeekByWeekAndTheCampaignsConvert runs `segflow run
// --demo` and reads through the API what the dashboard draws: the buyers of
// the sample's last year, several RFM segments, a NES record for each week's
// end the clock stopped at (event time, from the week of the first order,
// not the day of the run), and the example campaigns' results: sends and
// holdouts, and orders of later weeks converting the sends. A second run on
// the same Redis loads nothing again and shows the same.
func TestDemoLoadsTheSampleWeekByWeekAndTheCampaignsConvert(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 18 months of orders")
	}
	rdb := testenv.StartRedis(t)
	wantBuyers, wantDays := sample(t, demo.Final)

	first := startDemo(t, rdb.Addr)
	start := time.Now()
	// Under the race detector the load takes about 205 s of CPU: 115 s on 2
	// idle cores, and more than 3 minutes when the tests of another package
	// run beside it, as they do in `go test ./...`. The bound is for a load
	// that stops, not for its speed, and stays within go test's 10 minutes.
	first.waitReady(t, 6*time.Minute)
	t.Logf("loaded in %s", time.Since(start).Round(time.Millisecond))
	// Ready means loaded, indexed included.
	var counts demoCounts
	var days demoDays
	first.get(t, "/v1/counts", &counts)
	first.get(t, "/v1/metrics/nes?from=1990-01-01", &days)
	if counts.Buyers != wantBuyers {
		t.Errorf("%d buyers as of %s; the sample has %d customers with an order in the year before", counts.Buyers, demo.Final.Format(time.RFC3339), wantBuyers)
	}
	segments := 0
	for _, n := range counts.Segments {
		if n > 0 {
			segments++
		}
	}
	if segments < 4 {
		t.Errorf("%d RFM segments have buyers: %v", segments, counts.Segments)
	}
	var gotDays []string
	for _, d := range days.Days {
		gotDays = append(gotDays, d.Date)
	}
	if !slices.Equal(gotDays, wantDays) {
		t.Errorf("the NES record has %d days, %v to %v; the clock stopped at %d, %v to %v", len(gotDays), gotDays[:min(3, len(gotDays))], gotDays[max(len(gotDays)-3, 0):],
			len(wantDays), wantDays[:3], wantDays[len(wantDays)-3:])
	}
	var camps campaignResults
	first.get(t, "/v1/campaigns", &camps)
	converting, held := 0, int64(0)
	for _, c := range camps.Campaigns {
		t.Logf("%s: sent %d, converted %d, revenue %s; held out %d", c.Campaign, c.Treated.Decided, c.Treated.Converted, c.Treated.Revenue, c.Holdout.Decided)
		revenue, _ := strconv.ParseFloat(c.Treated.Revenue, 64)
		if c.Treated.Decided > 0 && c.Treated.Converted > 0 && revenue > 0 {
			converting++
		}
		held += c.Holdout.Decided
	}
	if converting < 4 || held == 0 {
		t.Errorf("%d campaigns sent and converted with revenue, %d customers held out; want several, and some", converting, held)
	}
	first.stop()

	second := startDemo(t, rdb.Addr)
	second.waitReady(t, 30*time.Second)
	if n := topicMessages(t, second.kafka, event.TopicPurchase); n != 0 {
		t.Errorf("the second run wrote %d orders; the sample was loaded already", n)
	}
	var again demoCounts
	second.get(t, "/v1/counts", &again)
	if again.Buyers != counts.Buyers {
		t.Errorf("the second run shows %d buyers, the first %d", again.Buyers, counts.Buyers)
	}
	var daysAgain demoDays
	second.get(t, "/v1/metrics/nes?from=1990-01-01", &daysAgain)
	if len(daysAgain.Days) != len(days.Days) {
		t.Errorf("the second run shows %d days of NES record, the first %d", len(daysAgain.Days), len(days.Days))
	}
	var campsAgain campaignResults
	second.get(t, "/v1/campaigns", &campsAgain)
	if !reflect.DeepEqual(campsAgain, camps) {
		t.Errorf("the second run shows the campaigns %+v, the first %+v", campsAgain, camps)
	}
}

// topicMessages counts the messages of topic on the broker at addr.
func topicMessages(t *testing.T, addr, topic string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	meta, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, tp := range meta.Topics {
		for _, p := range tp.Partitions {
			req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := c.ListOffsets(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, p := range res.Topics[topic] {
		n += p.LastOffset
	}
	return n
}
