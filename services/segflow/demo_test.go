package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/testenv"
)

// demoRun is one `segflow run --demo` on redisAddr, with its own embedded
// Kafka, served until stop is called.
type demoRun struct {
	base, kafka string
	stop        func()
}

func startDemo(t *testing.T, redisAddr string) *demoRun {
	t.Helper()
	addr, kafkaAddr := freeAddr(t), freeAddr(t)
	cfg, err := parseConfig("run", []string{"--demo", "--campaigns", "../../deploy/campaigns.yaml", "--redis-addr", redisAddr,
		"--http-addr", addr, "--embedded-kafka-addr", kafkaAddr, "--partitions", "2", "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "run", cfg) }()
	d := &demoRun{base: "http://" + addr, kafka: kafkaAddr}
	d.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}
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

// sampleBuyers counts, from the sample file read here (not through pkg/demo),
// the customers with an order in the year before T: the buyers of the RFM
// window as of T.
func sampleBuyers(t *testing.T, T time.Time) (buyers int, firstDay string) {
	t.Helper()
	f, err := os.Open("../../pkg/demo/cdnow/CDNOW_sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := map[string]bool{}
	firstDay = "9999"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		day, err := time.Parse("20060102", fields[2])
		if err != nil {
			t.Fatal(err)
		}
		if d := day.Format(time.DateOnly); d < firstDay {
			firstDay = d
		}
		if day.After(T.AddDate(-1, 0, 0)) {
			in[fields[0]] = true
		}
	}
	return len(in), firstDay
}

// TestDemoLoadsTheSampleInEventTimeOnce runs `segflow run --demo` and reads
// through the API what the dashboard draws: the buyers of the sample's last
// year, several RFM segments, a NES record for each day since the sample's
// first order (event time, not the day of the run), and the example
// campaigns deciding on the customers who doze off after the sample. A second
// run on the same Redis loads nothing again and shows the same.
func TestDemoLoadsTheSampleInEventTimeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 18 months of orders")
	}
	rdb := testenv.StartRedis(t)
	wantBuyers, firstDay := sampleBuyers(t, demo.Clock)

	first := startDemo(t, rdb.Addr)
	first.waitReady(t, 3*time.Minute)
	// Ready means loaded; the profile-updater then applies the changes of
	// the week after the sample, and the indexer indexes them.
	var counts demoCounts
	var days demoDays
	lastDay := demo.Clock.Format(time.DateOnly)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		first.get(t, "/v1/counts", &counts)
		first.get(t, "/v1/metrics/nes?from=1990-01-01", &days)
		n := len(days.Days)
		if counts.Buyers == wantBuyers && n > 0 && days.Days[n-1].Date == lastDay {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d buyers as of %s (the sample has %d customers with an order in the year before), NES record of %d days",
				counts.Buyers, demo.Clock.Format(time.RFC3339), wantBuyers, n)
		}
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
	// A record for each day of the sample, in event time: from the day of
	// its first order, not only the day of the run.
	if len(days.Days) <= 365 || days.Days[0].Date != firstDay {
		t.Fatalf("the NES record has %d days (want over a year, from the first order's day %s): %+v", len(days.Days), firstDay, days.Days[:min(3, len(days.Days))])
	}
	decided := func(d *demoRun) int64 {
		var res struct {
			Campaigns []struct {
				Treated struct{ Decided int64 } `json:"treated"`
				Holdout struct{ Decided int64 } `json:"holdout"`
			} `json:"campaigns"`
		}
		d.get(t, "/v1/campaigns", &res)
		n := int64(0)
		for _, c := range res.Campaigns {
			n += c.Treated.Decided + c.Holdout.Decided
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); decided(first) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no campaign decided on the changes of the week after the sample")
		}
	}
	first.stop()

	second := startDemo(t, rdb.Addr)
	defer second.stop()
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
