package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/updater"
)

const (
	writeKey    = "e2e-key"
	webWriteKey = "e2e-web-key" // a website's, for browser libraries
)

// pipeline is collector → Kafka → profile-updater on kfake and redis-server,
// with the updater's clock stopped at T.
type pipeline struct {
	kafka  *testenv.Kafka
	rdb    redis.UniversalClient
	writer *kafka.Writer
	log    *zap.Logger
	url    string
	store  *profile.Store
	up     *updater.Updater
	reg    *prometheus.Registry
	stop   func()
}

func startPipeline(t testing.TB, now func() time.Time, currency string, opts ...func(*profile.Config)) *pipeline {
	t.Helper()
	r := testenv.StartRedis(t)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3},
		stream.Topic{Name: trigger.TopicTriggers, Partitions: 3}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 3})
	rdb := r.Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	log := zap.NewNop()
	if os.Getenv("SEGFLOW_TEST_LOG") != "" {
		log, _ = zap.NewDevelopment()
	}
	reg := prometheus.NewRegistry()
	col, err := collector.New(collector.Config{
		WriteKeys:       map[string]collector.Source{writeKey: {Name: "import", Channel: "pos"}, webWriteKey: {Name: "web", Channel: "web"}},
		DefaultCurrency: currency,
		MaxEvents:       5000,
		MaxBodyBytes:    16 << 20,
	}, w, rdb, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	col.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pcfg := profile.Config{Currency: currency, Rules: rules}
	for _, o := range opts {
		o(&pcfg)
	}
	store := profile.New(rdb, pcfg)
	up, err := updater.New(updater.Config{Brokers: k.Brokers, Now: now}, store, w, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	p := &pipeline{kafka: k, rdb: rdb, writer: w, log: log, url: srv.URL, store: store, up: up, reg: reg, stop: func() { cancel(); <-done }}
	t.Cleanup(p.stop)
	return p
}

// startAPI serves the read API over the pipeline's store, with the admin
// token "tok".
func (p *pipeline) startAPI(t testing.TB, now func() time.Time) *httptest.Server {
	t.Helper()
	return p.startAPIWith(t, api.Config{Now: now})
}

// startAPIWith is startAPI with cfg, whose tokens it sets.
func (p *pipeline) startAPIWith(t testing.TB, cfg api.Config) *httptest.Server {
	t.Helper()
	cfg.Tokens = map[string]api.Holder{"tok": {Name: "e2e", Scope: api.ScopeAdmin}}
	a, err := api.New(cfg, p.rdb, p.store, index.New(p.rdb, ""), trigger.NewEngine(nil, p.rdb, p.store, nil), p.writer, p.log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// send posts orders to the collector as CloudEvent batches.
func (p *pipeline) send(t testing.TB, orders []order) {
	t.Helper()
	const batch = 2000
	for i := 0; i < len(orders); i += batch {
		var evs []map[string]any
		for _, o := range orders[i:min(i+batch, len(orders))] {
			typ, id := event.OrderCompleted, "order-"+o.ID
			if o.Refund {
				typ, id = event.OrderRefunded, "refund-"+o.ID
			}
			evs = append(evs, map[string]any{
				"specversion": "1.0", "id": id, "source": "/e2e", "type": typ, "time": o.Time.Format(time.RFC3339),
				"data": map[string]any{"user_id": o.Customer, "order_id": o.ID, "total": fmt.Sprintf("%d.%02d", o.Cents/100, o.Cents%100), "currency": o.Currency},
			})
		}
		p.post(t, evs)
	}
}

// post sends CloudEvents to the collector as one batch and fails the test
// unless every one is accepted.
func (p *pipeline) post(t testing.TB, evs []map[string]any) {
	t.Helper()
	status, b := p.collect(t, "/v1/events", "application/cloudevents-batch+json", evs)
	var a struct {
		Accepted int `json:"accepted"`
	}
	_ = json.Unmarshal(b, &a)
	if status != 200 || a.Accepted != len(evs) {
		t.Fatalf("collector: status %d, %d of %d accepted", status, a.Accepted, len(evs))
	}
}

// collect posts body, as JSON of content type ctype, to the collector's path
// with the test's write key, and returns the status and the answer.
func (p *pipeline) collect(t testing.TB, path, ctype string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", p.url+path, bytes.NewReader(b))
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// startTrigger runs the trigger service on camps, with the clock now, until
// the test ends.
func (p *pipeline) startTrigger(t testing.TB, camps *campaign.Config, now func() time.Time) {
	t.Helper()
	svc, err := trigger.NewService(trigger.Config{Brokers: p.kafka.Brokers, Now: now}, trigger.NewEngine(camps, p.rdb, p.store, p.writer), p.log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// clock is a clock the test moves.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// treated returns the first customer id prefix<n> that none of the named
// campaigns holds out.
func treated(camps *campaign.Config, prefix string, names ...string) string {
	for i := 0; ; i++ {
		c := fmt.Sprint(prefix, i)
		held := false
		for _, cp := range camps.Campaigns {
			if slices.Contains(names, cp.Name) {
				_, h := campaign.Assign(cp.Name, c, cp.Variants, cp.Holdout)
				held = held || h
			}
		}
		if !held {
			return c
		}
	}
}

func (p *pipeline) counter(name string) float64 {
	mfs, _ := p.reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// waitApplied waits until the updater has applied n events.
func (p *pipeline) waitApplied(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for p.counter("segflow_updater_events_applied_total") < float64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("applied %v of %d events in %s", p.counter("segflow_updater_events_applied_total"), n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCDNOWProfilesMatchAnIndependentComputation streams the CDNOW sample
// through the whole pipeline and compares every customer's R, F, M, scores,
// segment and NES stage at T with the reference computed in this package.
func TestCDNOWProfilesMatchAnIndependentComputation(t *testing.T) {
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	T := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	W := 365 * 24 * time.Hour
	p := startPipeline(t, func() time.Time { return T }, "USD")
	start := time.Now()
	p.send(t, orders)
	p.waitApplied(t, len(orders), 3*time.Minute)
	t.Logf("%d orders applied in %s", len(orders), time.Since(start).Round(time.Millisecond))
	want := referenceProfiles(orders, T, W)
	compare(t, p, want, T)
	compareAudiences(t, p, T)

	// The last profile.changed of each customer announces their stage at T;
	// their segment is as it was at their last evaluation, while the rest of
	// the population was still arriving.
	last := lastChanges(t, p, len(want))
	differ := 0
	for c, w := range want {
		if got := string(last[c].After.Stage); got != w.Stage {
			t.Errorf("customer %s: last published stage %q, want %q", c, got, w.Stage)
		}
		if last[c].After.Segment != w.Segment {
			differ++
		}
		if last[c].Cause.EventID == "" {
			t.Errorf("customer %s: change %+v has no event for its cause", c, last[c])
		}
	}
	t.Logf("before a rescore, %d customers' last published segment is not their segment at T", differ)
	compareRescored(t, p, want, T)
}

// lastChanges returns each customer's last profile.changed on the profiles
// topic, once at least n changes are there.
func lastChanges(t *testing.T, p *pipeline, n int) map[string]profile.Change {
	t.Helper()
	last := map[string]profile.Change{}
	for _, ch := range p.kafka.Changes(t, n, 10*time.Second) {
		if len(ch.Changed) == 0 {
			t.Fatalf("change %s of %s changes nothing", ch.ID, ch.Customer)
		}
		last[ch.Customer] = ch
	}
	return last
}

// compareRescored rescores the pipeline's namespace at T, as the
// profile-updater does at each boundary, and checks that every customer's
// last published stage and segment are then the reference's at T.
func compareRescored(t *testing.T, p *pipeline, want map[string]expected, T time.Time) {
	t.Helper()
	if ok, err := p.up.Rescore(context.Background(), T); err != nil || !ok {
		t.Fatalf("rescore: %v, %v", ok, err)
	}
	last := lastChanges(t, p, len(want))
	for c, w := range want {
		got, ok := last[c]
		if !ok { // nothing published: a prospect (refunds only)
			got.After.Stage = nes.Prospect
		}
		if string(got.After.Stage) != w.Stage || got.After.Segment != w.Segment {
			t.Errorf("customer %s: after a rescore, last published %s %q; want %s %q", c, got.After.Stage, got.After.Segment, w.Stage, w.Segment)
		}
	}
}

func compare(t *testing.T, p *pipeline, want map[string]expected, T time.Time) {
	t.Helper()
	customers := make([]string, 0, len(want))
	for c := range want {
		customers = append(customers, c)
	}
	sort.Strings(customers)
	got, err := p.store.Evaluate(context.Background(), T, customers)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	segments := map[string]int{}
	for i, c := range customers {
		g, w := got[i], want[c]
		segments[g.Segment]++
		if g.Values.R != w.R || g.Values.F != w.F || g.Values.M != w.M || g.RScore != w.RScore || g.FScore != w.FScore || g.MScore != w.MScore || g.Segment != w.Segment || string(g.Stage) != w.Stage || g.Orders != w.Orders {
			bad++
			if bad <= 10 {
				t.Errorf("customer %s: got R=%d F=%d M=%d scores %d%d%d %s %s n=%d; want R=%d F=%d M=%d scores %d%d%d %s %s n=%d",
					c, g.Values.R, g.Values.F, g.Values.M, g.RScore, g.FScore, g.MScore, g.Segment, g.Stage, g.Orders,
					w.R, w.F, w.M, w.RScore, w.FScore, w.MScore, w.Segment, w.Stage, w.Orders)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d customers differ", bad, len(customers))
	}
	t.Logf("%d customers compared; segments %v", len(customers), segments)
}

// TestOnlineRetailProfilesMatchAnIndependentComputation does the same with
// real invoices in GBP, cancellations included as refunds.
func TestOnlineRetailProfilesMatchAnIndependentComputation(t *testing.T) {
	orders := loadOnlineRetail(t, dataPath(t, "online-retail/online_retail.csv"), 0)
	T := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	p := startPipeline(t, func() time.Time { return T }, "GBP")
	start := time.Now()
	p.send(t, orders)
	p.waitApplied(t, len(orders), 40*time.Second)
	t.Logf("%d orders and refunds applied in %s", len(orders), time.Since(start).Round(time.Millisecond))
	want := referenceProfiles(orders, T, 365*24*time.Hour)
	compare(t, p, want, T)
	compareAudiences(t, p, T)
	compareRescored(t, p, want, T)
}
