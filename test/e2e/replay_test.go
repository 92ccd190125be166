package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/updater"
)

// backfillEnv is Kafka, Redis and the profile configuration of the
// replay tests; the pipeline's collector is not needed, orders are imported.
type backfillEnv struct {
	k   *testenv.Kafka
	rdb redis.UniversalClient
	w   *kafka.Writer
	cfg profile.Config
	log *zap.Logger
}

func newBackfillEnv(t *testing.T) *backfillEnv {
	t.Helper()
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3},
		stream.Topic{Name: trigger.TopicTriggers, Partitions: 3}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := zap.NewNop()
	if os.Getenv("SEGFLOW_TEST_LOG") != "" {
		log, _ = zap.NewDevelopment()
	}
	return &backfillEnv{k: k, rdb: rdb, w: w, cfg: profile.Config{Currency: "USD", Rules: rules}, log: log}
}

// ordersCSV writes orders as an import file: order id, customer id, date,
// total in dollars, currency.
func ordersCSV(t *testing.T, orders []order) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("order_id,customer_id,time,total,currency\n")
	for _, o := range orders {
		fmt.Fprintf(&b, "%s,%s,%s,%d.%02d,%s\n", o.ID, o.Customer, o.Time.Format("2006-01-02"), o.Cents/100, o.Cents%100, o.Currency)
	}
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *backfillEnv) importFile(t *testing.T, path string) importer.Summary {
	t.Helper()
	im, err := importer.New(importer.Config{Source: "/import/cdnow"}, e.w, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := im.Import(context.Background(), f, importer.CSV)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// startLive runs the profile-updater, following the live namespace, with its
// clock at T, and waits until it has applied n events and the timers due.
func (e *backfillEnv) startLive(t *testing.T, T time.Time, n int) {
	t.Helper()
	live := profile.NewLive(e.rdb, e.cfg)
	store, err := live.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	up, err := updater.New(updater.Config{Brokers: e.k.Brokers, Now: func() time.Time { return T }, Namespace: live.Store}, store, e.w, e.log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	p := &pipeline{reg: reg}
	p.waitApplied(t, n, 3*time.Minute)
	testenv.WaitTimers(t, store, T, time.Minute) // and the timers due at T
}

func (e *backfillEnv) replayer(t *testing.T, ns string, cfg replay.Config) *replay.Replayer {
	t.Helper()
	cfg.Brokers = e.k.Brokers
	r, err := replay.New(cfg, profile.New(e.rdb, e.cfg).In(ns), e.rdb, e.w, e.log)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *backfillEnv) store(ns string) *profile.Store { return profile.New(e.rdb, e.cfg).In(ns) }

// TestImportedHistoryRebuiltInAFreshNamespaceEqualsTheLiveProfiles imports
// the CDNOW sample, lets the live profile-updater apply it, then rebuilds it
// into a fresh namespace in event time while the updater runs, switches, and
// checks that every profile equals the live one and the independent
// reference. A customer erased since, in a rebuild interrupted and resumed,
// stays absent and the rest equals the reference without them. Importing
// the file again writes nothing.
func TestImportedHistoryRebuiltInAFreshNamespaceEqualsTheLiveProfiles(t *testing.T) {
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	T := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	e := newBackfillEnv(t)
	ctx := context.Background()
	path := ordersCSV(t, orders)

	start := time.Now()
	sum := e.importFile(t, path)
	if sum.Written != len(orders) || len(sum.Errors) > 0 {
		t.Fatalf("import: %v %v, want all %d orders written", sum, sum.Errors, len(orders))
	}
	t.Logf("imported %d orders in %s", len(orders), time.Since(start).Round(time.Millisecond))
	e.startLive(t, T, len(orders))
	want := referenceProfiles(orders, T, 365*24*time.Hour)
	compare(t, &pipeline{store: e.store("sf")}, want, T)

	again := e.importFile(t, path)
	if again.Written != 0 || again.Skipped != len(orders) {
		t.Errorf("second import: %v, want nothing written and all %d already imported", again, len(orders))
	}
	if n := len(e.k.ReadTopic(t, event.TopicPurchase, len(orders), 30*time.Second)); n != len(orders) {
		t.Errorf("%d messages on the purchase topic after importing twice, want %d", n, len(orders))
	}

	start = time.Now()
	res, err := e.replayer(t, "sf2", replay.Config{Switch: true, Now: func() time.Time { return T }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuilt in %s: %+v", time.Since(start).Round(time.Millisecond), res)
	if live, _ := profile.LiveNamespace(ctx, e.rdb, "sf"); !res.Switched || live != "sf2" {
		t.Fatalf("switched %v, live namespace %q; want sf2", res.Switched, live)
	}
	diffs, n, err := replay.Compare(ctx, e.store("sf"), e.store("sf2"), T)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) || len(diffs) > 0 {
		t.Errorf("%d customers compared (want %d); the rebuilt profiles differ from the live ones: %v", n, len(want), diffs)
	}
	liveKeys := testenv.CustomerKeys(t, e.rdb, "sf")
	testenv.SameKeys(t, liveKeys, testenv.CustomerKeys(t, e.rdb, "sf2"))
	compare(t, &pipeline{store: e.store("sf2")}, want, T)

	// A customer erased since, and a rebuild interrupted after its first
	// batch and resumed: the profiles are those of the history without the
	// erased customer, who is absent.
	erased := orders[0].Customer
	if err := privacy.New(e.rdb).Record(ctx, erased, T); err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithCancel(ctx)
	cfg := replay.Config{SortWindow: 2000, Now: func() time.Time { return T }}
	r := e.replayer(t, "sf3", cfg)
	r.Progress = func(done, total int64) {
		if done > 3000 {
			cancel()
		}
	}
	if _, err := r.Run(stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay: %v, want context.Canceled", err)
	}
	res, err = e.replayer(t, "sf3", cfg).Run(ctx)
	if err != nil || !res.Resumed || res.Read == 0 || res.Read >= int64(len(orders)) || res.Erased == 0 {
		t.Fatalf("resumed replay: %+v %v, want resumed with part of the events left, the erased customer's dropped", res, err)
	}
	if keys := testenv.Keys(t, e.rdb, "sf3:{"+erased+"}:*"); len(keys) > 0 {
		t.Errorf("the erased customer was rebuilt: %v", keys)
	}
	var kept []order
	for _, o := range orders {
		if o.Customer != erased {
			kept = append(kept, o)
		}
	}
	compare(t, &pipeline{store: e.store("sf3")}, referenceProfiles(kept, T, 365*24*time.Hour), T)
	for k := range liveKeys {
		if strings.HasPrefix(k, ":{"+erased+"}") {
			delete(liveKeys, k)
		}
	}
	testenv.SameKeys(t, liveKeys, testenv.CustomerKeys(t, e.rdb, "sf3"))
}

// TestABackfillFiresNoTrigger runs the trigger service with the example
// campaigns while imported history is rebuilt in event time into a fresh
// namespace with its profile changes published marked backfill: no trigger
// reaches the triggers topic,
// and every campaign decision is recorded as suppressed with reason
// backfill — among them a first-purchase welcome for each customer whose
// first purchase day held one order (two orders at once make an existing
// customer, E0, never a new one).
func TestABackfillFiresNoTrigger(t *testing.T) {
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	T := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	e := newBackfillEnv(t)
	ctx := context.Background()
	if sum := e.importFile(t, ordersCSV(t, orders)); sum.Written != len(orders) {
		t.Fatalf("import: %v", sum)
	}
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := trigger.NewService(trigger.Config{Brokers: e.k.Brokers, Now: func() time.Time { return T }},
		trigger.NewEngine(camps, e.rdb, profile.NewLive(e.rdb, e.cfg), e.w), e.log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(sctx) }()
	t.Cleanup(func() { cancel(); <-done })

	res, err := e.replayer(t, "sf2", replay.Config{Changes: replay.ChangesBackfill, Now: func() time.Time { return T }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes == 0 {
		t.Fatalf("the backfill computed no profile change: %+v", res)
	}
	waitConsumed(t, e.k.Brokers, "segflow-trigger", event.TopicProfiles, event.TopicPurchase)

	if msgs := e.k.ReadTopic(t, trigger.TopicTriggers, 0, time.Second); len(msgs) != 0 {
		t.Errorf("%d triggers for the past, want none", len(msgs))
	}
	firstDay := map[string]int{} // customer -> orders on the first purchase day
	first := map[string]time.Time{}
	for _, o := range orders { // sorted by time
		if f, ok := first[o.Customer]; !ok || o.Time.Equal(f) {
			first[o.Customer] = o.Time
			firstDay[o.Customer]++
		}
	}
	welcomes := 0
	for _, n := range firstDay {
		if n == 1 {
			welcomes++
		}
	}
	got := map[string]int{}
	msgs := e.k.ReadTopic(t, trigger.TopicDecisions, welcomes, 30*time.Second)
	for _, m := range msgs {
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		var d trigger.Decision
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Outcome != trigger.Backfill {
			t.Errorf("decision %s for %s: %s, want backfill", d.Campaign, d.Customer, d.Outcome)
		}
		got[d.Campaign]++
	}
	if got["first_purchase_welcome"] != welcomes {
		t.Errorf("%d welcome decisions, want %d; all decisions by campaign %v", got["first_purchase_welcome"], welcomes, got)
	}
	t.Logf("%d profile changes replayed; decisions by campaign %v", res.Changes, got)
}

// waitConsumed waits until group has committed the end offset of every
// partition of topics.
func waitConsumed(t *testing.T, brokers []string, group string, topics ...string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		behind := int64(0)
		for _, topic := range topics {
			parts := []int{0, 1, 2}
			req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}}
			ends, err := c.ListOffsets(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
			if err != nil {
				t.Fatal(err)
			}
			at := map[int]int64{}
			for _, p := range committed.Topics[topic] {
				at[p.Partition] = p.CommittedOffset
			}
			for _, p := range ends.Topics[topic] {
				behind += max(p.LastOffset-max(at[p.Partition], 0), 0)
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %d messages behind on %v", group, behind, topics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
