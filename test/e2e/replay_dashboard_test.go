package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestDashboardDrawsAWeeklyReplayOfCDNOW replays the CDNOW sample week by
// week through the whole pipeline — collector, profile-updater (whose timers
// move customers through the NES stages as the clock advances), the trigger
// service with the example campaigns, the segment indexer — with a clock
// that follows the weeks. It checks that the index's stage counts at the end
// equal the reference computation, and that the dashboard draws one day of
// the NES record per week and every campaign's numbers as the API reports
// them. Its screenshot is the README's.
func TestDashboardDrawsAWeeklyReplayOfCDNOW(t *testing.T) {
	browser := chromium(t)
	if testing.Short() {
		t.Skip("replays a year and runs a browser")
	}
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Week ends at 06:00 UTC, 14:00 in Taipei: outside the campaigns' quiet hours.
	first := orders[0].Time.Truncate(7 * day).Add(7*day + 6*time.Hour)
	clk := newClock(first)
	p := startPipeline(t, clk.now, "USD")
	p.startTrigger(t, camps, clk.now)

	// The read API, its indexer and the dashboard, on their own server.
	ix := index.New(p.rdb, "")
	x := &index.Indexer{Brokers: p.kafka.Brokers, GroupID: "replay-index", Index: ix, Erasures: privacy.New(p.rdb), Log: p.log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := p.serveDashboard(t, api.Config{Now: clk.now}, ix)

	// Every customer consents to every channel before their first order.
	seen := map[string]bool{}
	var identifies []map[string]any
	for _, o := range orders {
		if !seen[o.Customer] {
			seen[o.Customer] = true
			identifies = append(identifies, map[string]any{"specversion": "1.0", "id": "identify-" + o.Customer, "source": "/e2e", "type": event.Identify,
				"time": o.Time.Add(-time.Minute).Format(time.RFC3339),
				"data": map[string]any{"user_id": o.Customer, "consent": map[string]bool{"email": true, "sms": true, "push": true, "line": true}}})
		}
	}
	for i := 0; i < len(identifies); i += 2000 {
		p.post(t, identifies[i:min(i+2000, len(identifies))])
	}
	p.waitApplied(t, len(identifies), time.Minute)

	sent, weeks := len(identifies), 0
	for i := 0; i < len(orders); weeks++ {
		end := first.Add(time.Duration(weeks) * 7 * day)
		j := i
		for j < len(orders) && !orders[j].Time.After(end) {
			j++
		}
		clk.set(end)
		p.send(t, orders[i:j])
		sent += j - i
		p.waitApplied(t, sent, time.Minute)
		testenv.WaitTimers(t, p.store, end, time.Minute)
		// The trigger service decides with the clock at the week's end, so
		// purchases of later weeks can convert its exposures.
		waitGroup(t, p.kafka.Brokers, "segflow-trigger", append(event.Topics, event.TopicProfiles)...)
		waitDue(t, p, end)
		i = j
	}
	final := clk.now()
	waitGroup(t, p.kafka.Brokers, "replay-index", event.TopicProfiles)
	t.Logf("%d weeks replayed, to %s", weeks, final.Format(time.DateOnly))

	// The stages the index holds at the end are the reference's at that time.
	ref := referenceProfiles(orders, final, 365*day)
	want := map[string]int64{}
	for _, r := range ref {
		want[r.Stage]++
	}
	var got api.Counts
	deadline := time.Now().Add(time.Minute)
	for {
		getJSON(t, srv.URL+"/v1/counts", &got)
		if fmt.Sprint(nonZero(got.Stages)) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexed stages %v, reference %v", got.Stages, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var nes struct{ Days []api.NESDay }
	getJSON(t, srv.URL+"/v1/metrics/nes", &nes)
	var cres struct{ Campaigns []api.CampaignResult }
	getJSON(t, srv.URL+"/v1/campaigns", &cres)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1500))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/dashboard/#token="+dashToken), chromedp.WaitVisible(`body[data-loaded="true"]`)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	type day struct {
		Key      string `json:"key"`
		NewShare string `json:"share"`
	}
	days, err := chromedp.Run(bctx, chromedp.Evaluate[[]day](`[...document.querySelectorAll('svg[data-chart=nes] g[data-key]')].map(g => ({key: g.dataset.key, share: g.dataset.newShare}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != len(nes.Days) || len(days) < weeks/2 {
		t.Errorf("the NES chart draws %d days; the API has %d, for %d weeks", len(days), len(nes.Days), weeks)
	}
	for i, d := range days {
		if i < len(nes.Days) && (d.Key != nes.Days[i].Date || d.NewShare != strconv.FormatFloat(nes.Days[i].NewShare, 'f', -1, 64)) {
			t.Errorf("NES day %d drawn as %+v, API %+v", i, d, nes.Days[i])
		}
	}
	type camp struct {
		Key       string `json:"key"`
		Sent      string `json:"sent"`
		Converted string `json:"converted"`
	}
	drawn, err := chromedp.Run(bctx, chromedp.Evaluate[[]camp](`[...document.querySelectorAll('svg[data-chart=campaigns] g[data-key]')].map(g => ({key: g.dataset.key, sent: g.dataset.sent, converted: g.dataset.converted}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(drawn) != len(cres.Campaigns) {
		t.Errorf("%d campaigns drawn, the API reports %d", len(drawn), len(cres.Campaigns))
	}
	converted := int64(0)
	for i, c := range cres.Campaigns {
		converted += c.Treated.Converted + c.Holdout.Converted
		if i < len(drawn) && (drawn[i].Key != c.Campaign || drawn[i].Sent != fmt.Sprint(c.Treated.Decided) || drawn[i].Converted != fmt.Sprint(c.Treated.Converted)) {
			t.Errorf("campaign drawn as %+v, API %+v", drawn[i], c.Treated)
		}
		t.Logf("%s: sent %d converted %d; holdout %d converted %d", c.Campaign, c.Treated.Decided, c.Treated.Converted, c.Holdout.Decided, c.Holdout.Converted)
	}
	keepScreenshot(bctx, t, "dashboard-replay.png")
	t.Logf("%d conversions", converted)
}

// waitGroup waits until a consumer group has committed every message of
// topics.
func waitGroup(t *testing.T, brokers []string, group string, topics ...string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	ctx := context.Background()
	parts := map[string][]int{}
	last := map[string][]kafka.OffsetRequest{}
	for _, tp := range topics {
		for i := range 3 { // testenv's partitions
			parts[tp] = append(parts[tp], i)
			last[tp] = append(last[tp], kafka.LastOffsetOf(i))
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		behind := int64(0)
		ends, err1 := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: last})
		done, err2 := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
		if err1 == nil && err2 == nil {
			committed := map[string]int64{}
			for tp, ps := range done.Topics {
				for _, p := range ps {
					committed[fmt.Sprint(tp, p.Partition)] = p.CommittedOffset
				}
			}
			for tp, ps := range ends.Topics {
				for _, p := range ps {
					if c := max(committed[fmt.Sprint(tp, p.Partition)], 0); p.LastOffset > c {
						behind += p.LastOffset - c
					}
				}
			}
			if behind == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %d messages behind (%v %v)", group, behind, err1, err2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDue waits until no wait of the trigger service is due at T.
func waitDue(t *testing.T, p *pipeline, T time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := trigger.Backlog(context.Background(), p.rdb, T)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d trigger timers still due at %s (%v)", n, T, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
