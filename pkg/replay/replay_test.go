package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/updater"
)

var day0 = time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)

func day(n int) time.Time { return day0.Add(time.Duration(n) * 24 * time.Hour) }

// history is a year of a small shop: orders, a refund, views, cart lines,
// identifies with consent and an anonymous visitor who identifies later.
func history(t *testing.T) []kafka.Message {
	var msgs []kafka.Message
	add := func(id, typ, customer string, at time.Time, data string) {
		msgs = append(msgs, testenv.Message(t, id, typ, customer, at, data))
	}
	for i := 0; i < 30; i++ {
		c := fmt.Sprintf("c%02d", i)
		add("id-"+c, event.Identify, c, day(i), fmt.Sprintf(`{"user_id":%q,"traits":{"timezone":"Asia/Taipei"},"consent":{"email":%v}}`, c, i%2 == 0))
		for k := 0; k <= i%5; k++ {
			at := day(i + 40*k)
			add(fmt.Sprintf("o-%s-%d", c, k), event.OrderCompleted, c, at,
				fmt.Sprintf(`{"user_id":%q,"order_id":"%s-%d","total":"%d.50","currency":"USD","items":[{"sku":"S%d","category":"cat%d"}]}`, c, c, k, 10+i*k, k, i%3))
		}
		add("v-"+c, event.ProductViewed, c, day(i+3), fmt.Sprintf(`{"user_id":%q,"product":{"sku":"S%d","category":"cat1"}}`, c, i))
		if i%4 == 0 {
			add("a-"+c, event.ProductAdded, c, day(i+5), fmt.Sprintf(`{"user_id":%q,"cart_id":"k","product":{"sku":"S9","price":"4.00"},"quantity":%d}`, c, 1+i%3))
		}
		if i%7 == 0 {
			add("r-"+c, event.OrderRefunded, c, day(i+50), fmt.Sprintf(`{"user_id":%q,"order_id":"%s-0","total":"5.00","currency":"USD"}`, c, c))
		}
	}
	add("anon-view", event.ProductViewed, "anon:v1", day(100), `{"anonymous_id":"v1","product":{"sku":"S1","category":"cat2"}}`)
	add("anon-add", event.ProductAdded, "anon:v1", day(100).Add(time.Minute), `{"anonymous_id":"v1","cart_id":"x","product":{"sku":"S2","price":"3.00"}}`)
	add("anon-id", event.Identify, "newbie", day(101), `{"user_id":"newbie","anonymous_id":"v1","consent":{"email":true}}`)
	add("newbie-o", event.OrderCompleted, "newbie", day(102), `{"user_id":"newbie","order_id":"n-1","total":"20.00","currency":"USD"}`)
	return msgs
}

type env struct {
	k   *testenv.Kafka
	rdb redis.UniversalClient
	w   *kafka.Writer
	cfg profile.Config
}

func newEnv(t *testing.T) *env {
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &env{k: k, rdb: rdb, w: w, cfg: profile.Config{Currency: "USD", Rules: rules}}
}

func (e *env) write(t *testing.T, msgs []kafka.Message) {
	t.Helper()
	if err := e.w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// live runs the profile-updater with its clock at T on the live namespace
// until it has applied n events and the timers due at T, and returns a stop
// function.
func (e *env) live(t *testing.T, T time.Time, n int) func() {
	t.Helper()
	stop, _ := e.liveWith(t, T, n)
	return stop
}

// liveWith is live, returning also the updater's metrics.
func (e *env) liveWith(t *testing.T, T time.Time, n int) (func(), *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l := profile.NewLive(e.rdb, e.cfg)
	store, _ := l.Store(context.Background())
	up, err := updater.New(updater.Config{Brokers: e.k.Brokers, Now: func() time.Time { return T }, Namespace: l.Store}, store, e.w, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	waitApplied(t, reg, n)
	// and until the timers due at T have fallen due.
	testenv.WaitTimers(t, store, T, 30*time.Second)
	return stop, reg
}

func waitApplied(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for applied(reg) < float64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the updater applied %v of %d events", applied(reg), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func applied(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "segflow_updater_events_applied_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func (e *env) replayer(t *testing.T, ns string, cfg replay.Config) *replay.Replayer {
	t.Helper()
	cfg.Brokers = e.k.Brokers
	r, err := replay.New(cfg, profile.New(e.rdb, e.cfg).In(ns), e.rdb, e.w, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAReplayIntoAFreshNamespaceRebuildsTheLiveProfiles(t *testing.T) {
	e := newEnv(t)
	msgs := history(t)
	e.write(t, msgs)
	T := day(400)
	e.live(t, T, len(msgs))()

	res, err := e.replayer(t, "sf2", replay.Config{Now: func() time.Time { return T }}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != int64(len(msgs)) || res.Applied != int64(len(msgs)) || res.Switched {
		t.Errorf("result %+v, want all %d events read and applied, no switch", res, len(msgs))
	}
	diffs, n, err := replay.Compare(context.Background(), profile.New(e.rdb, e.cfg), profile.New(e.rdb, e.cfg).In("sf2"), T)
	if err != nil {
		t.Fatal(err)
	}
	if n != 32 || len(diffs) > 0 {
		t.Errorf("%d customers compared (want 32: 30, the visitor and the one it became); differences: %v", n, diffs)
	}
	testenv.SameKeys(t, testenv.CustomerKeys(t, e.rdb, "sf"), testenv.CustomerKeys(t, e.rdb, "sf2"))

	// In bulk: the same profiles, without the history of changes.
	res, err = e.replayer(t, "bulk", replay.Config{Bulk: true, BatchSize: 50, Now: func() time.Time { return T }}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != int64(len(msgs)) {
		t.Errorf("bulk: %+v, want all %d events applied", res, len(msgs))
	}
	diffs, _, err = replay.Compare(context.Background(), profile.New(e.rdb, e.cfg), profile.New(e.rdb, e.cfg).In("bulk"), T)
	if err != nil || len(diffs) > 0 {
		t.Errorf("bulk rebuild differs from the live profiles: %v %v", err, diffs)
	}
	testenv.SameKeys(t, testenv.CustomerKeys(t, e.rdb, "sf"), testenv.CustomerKeys(t, e.rdb, "bulk"))
}

// TestAReplayEvaluatesInEventTime follows one customer through a backfill:
// a first order, no purchase for 100 days, a second order (written to Kafka
// before the first). With the default
// 30-day cycle the stage is N, then S1 after 30 days, S2 after 60 and S3
// after 90 (docs/segmentation.md: c < g <= 2c, ...), and E0 at the second order.
func TestAReplayEvaluatesInEventTime(t *testing.T) {
	e := newEnv(t)
	// Written out of event-time order, as an import sorted by customer might be.
	e.write(t, []kafka.Message{
		testenv.Message(t, "o2", event.OrderCompleted, "sleepy", day(100), `{"user_id":"sleepy","order_id":"2","total":"10.00","currency":"USD"}`),
		testenv.Message(t, "o1", event.OrderCompleted, "sleepy", day(0), `{"user_id":"sleepy","order_id":"1","total":"10.00","currency":"USD"}`),
	})
	rec := &recorder{}
	r, err := replay.New(replay.Config{Brokers: e.k.Brokers, Changes: replay.ChangesBackfill, Step: time.Minute, Now: func() time.Time { return day(101) }},
		profile.New(e.rdb, e.cfg), e.rdb, rec, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	type step struct {
		stage nes.Stage
		at    time.Time
	}
	var got []step
	for _, m := range rec.all() {
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := ev.Extensions()[event.ExtBackfill].(string); b != "true" || m.Topic != event.TopicProfiles {
			t.Errorf("change on %s with backfill %q, want the profiles topic, marked", m.Topic, b)
		}
		var ch profile.Change
		if err := json.Unmarshal(ev.Data(), &ch); err != nil {
			t.Fatal(err)
		}
		got = append(got, step{ch.After.Stage, ch.At})
	}
	want := []step{{nes.New, day(0)}, {nes.Dozing, day(30)}, {nes.HalfAsleep, day(60)}, {nes.DeepAsleep, day(90)}, {nes.Active, day(100)}}
	if len(got) != len(want) {
		t.Fatalf("stages %v, want %v", got, want)
	}
	for i := range want {
		// A timer falls due just after its instant (g > c), within a step.
		if got[i].stage != want[i].stage || got[i].at.Before(want[i].at) || got[i].at.After(want[i].at.Add(time.Minute)) {
			t.Errorf("change %d: %s at %s, want %s at %s (within a minute)", i, got[i].stage, got[i].at, want[i].stage, want[i].at)
		}
	}
}

// recorder is a Producer that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) all() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kafka.Message(nil), r.msgs...)
}

func TestAnInterruptedReplayResumesToTheSameResult(t *testing.T) {
	e := newEnv(t)
	msgs := history(t)
	e.write(t, msgs)
	T := day(400)
	if _, err := e.replayer(t, "whole", replay.Config{Now: func() time.Time { return T }}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Windows of 40 events, progress saved after each: stopped in the
	// middle of the third window, a resumed run starts at the third.
	cfg := replay.Config{BatchSize: 7, SortWindow: 40, Step: time.Minute, Now: func() time.Time { return T }}
	ctx, cancel := context.WithCancel(context.Background())
	r := e.replayer(t, "parts", cfg)
	r.Progress = func(done, total int64) {
		if done > 80 && done < 120 {
			cancel()
		}
	}
	if _, err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	res, err := e.replayer(t, "parts", cfg).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Read != int64(len(msgs))-80 {
		t.Errorf("second run: resumed %v, read %d; want resumed, reading the %d events after the first two windows", res.Resumed, res.Read, len(msgs)-80)
	}
	diffs, _, err := replay.Compare(context.Background(), profile.New(e.rdb, e.cfg).In("whole"), profile.New(e.rdb, e.cfg).In("parts"), T)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("differences between the resumed and the uninterrupted replay: %v", diffs)
	}
	testenv.SameKeys(t, testenv.CustomerKeys(t, e.rdb, "whole"), testenv.CustomerKeys(t, e.rdb, "parts"))
}

func TestAReplayNeverRecreatesAnErasedCustomer(t *testing.T) {
	e := newEnv(t)
	msgs := history(t)
	e.write(t, msgs)
	ctx := context.Background()
	// c03 and the anonymous visitor were erased after all their events.
	for _, c := range []string{"c03", "anon:v1"} {
		if err := privacy.New(e.rdb).Record(ctx, c, day(300)); err != nil {
			t.Fatal(err)
		}
	}
	T := day(400)
	res, err := e.replayer(t, "sf", replay.Config{Now: func() time.Time { return T }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// c03: identify, 4 orders, a view; the visitor: a view and a cart add.
	if res.Erased != 8 {
		t.Errorf("%d events dropped as erased, want 8", res.Erased)
	}
	for _, c := range []string{"c03", "anon:v1"} {
		if keys := testenv.Keys(t, e.rdb, "sf:{"+c+"}:*"); len(keys) > 0 {
			t.Errorf("erased customer %s has keys %v", c, keys)
		}
	}
	ps, err := profile.New(e.rdb, e.cfg).Get(ctx, T, []string{"newbie"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].CartItems != 0 || ps[0].Orders != 1 {
		t.Errorf("newbie: %d cart items, %d orders; want nothing of the erased visitor, and their own order", ps[0].CartItems, ps[0].Orders)
	}
}

func TestAReplayStartsAtATimeOrAtOffsets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	written := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	order := func(id string, at time.Time) kafka.Message {
		m := testenv.Message(t, id, event.OrderCompleted, "kay", day(1), fmt.Sprintf(`{"user_id":"kay","order_id":%q,"total":"1.00","currency":"USD"}`, id))
		m.Time = at // when it was written to Kafka
		return m
	}
	e.write(t, []kafka.Message{order("1", written), order("2", written.Add(time.Hour))})
	e.write(t, []kafka.Message{order("3", written.Add(2*time.Hour))})

	res, err := e.replayer(t, "from", replay.Config{Topics: []string{event.TopicPurchase}, From: written.Add(time.Hour)}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := profile.New(e.rdb, e.cfg).In("from").Get(ctx, day(2), []string{"kay"})
	if res.Applied != 2 || ps[0].Orders != 2 {
		t.Errorf("from a time: %d applied, %d orders; want orders 2 and 3", res.Applied, ps[0].Orders)
	}

	part := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte("kay")}, 0, 1, 2)
	res, err = e.replayer(t, "offsets", replay.Config{Topics: []string{event.TopicPurchase}, From: written.Add(time.Hour),
		Offsets: map[replay.Partition]int64{{Topic: event.TopicPurchase, Partition: part}: 2}}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 1 {
		t.Errorf("from offset 2: %d applied, want order 3 alone", res.Applied)
	}
}

func TestASwitchedNamespaceIsWhereTheLiveUpdaterWritesAndTheOldOneCanBeDropped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msgs := history(t)
	e.write(t, msgs)
	// Keys under the live prefix that are not profile state.
	e.rdb.Set(ctx, "sf:{anon:v9}:link", "someone", 0)
	e.rdb.Set(ctx, "sf:seen:abc", "d", 0)
	T := day(400)
	e.live(t, T, len(msgs))

	res, err := e.replayer(t, "sf2", replay.Config{Switch: true, Now: func() time.Time { return T }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := profile.LiveNamespace(ctx, e.rdb, "sf")
	if !res.Switched || live != "sf2" {
		t.Fatalf("switched %v, live namespace %q; want sf2", res.Switched, live)
	}
	// The running updater follows the switch.
	e.write(t, []kafka.Message{testenv.Message(t, "late", event.OrderCompleted, "latecomer", day(399), `{"user_id":"latecomer","order_id":"L","total":"1.00","currency":"USD"}`)})
	deadline := time.Now().Add(30 * time.Second)
	for e.rdb.Exists(ctx, "sf2:{latecomer}:r").Val() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an event after the switch did not reach the new namespace")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.rdb.Exists(ctx, "sf:{latecomer}:r").Val() != 0 {
		t.Error("an event after the switch reached the old namespace")
	}

	if _, err := profile.DropNamespace(ctx, e.rdb, "sf2", "sf"); !errors.Is(err, profile.ErrLive) {
		t.Errorf("dropping the live namespace: %v, want ErrLive", err)
	}
	n, err := profile.DropNamespace(ctx, e.rdb, "sf", "sf")
	if err != nil {
		t.Fatal(err)
	}
	left := testenv.Keys(t, e.rdb, "sf:*")
	if n == 0 || len(left) != 2 {
		t.Errorf("dropped %d keys; left %v, want the identity link and the dedup marker", n, left)
	}
}

func TestDeadLettersValidNowArePublishedAgainWithTheirIdAndTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	dead := func(raw string) kafka.Message {
		d := event.DeadLetter{Reason: "invalid", Format: "cloudevents", Source: "/sources/web", ReceivedAt: at.Add(time.Second)}
		d.SetRaw([]byte(raw))
		ev, err := d.Event("/collector", "", "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := stream.ToMessage(event.TopicInvalid, ev)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	e.write(t, []kafka.Message{
		dead(`{"specversion":"1.0","id":"fixed-1","source":"/shop","type":"segflow.purchase.order_completed","time":"2025-06-01T12:00:00Z","data":{"user_id":"dana","order_id":"9","total":"9.00","currency":"USD"}}`),
		dead(`{"specversion":"1.0","id":"still-bad","source":"/shop","type":"segflow.purchase.order_completed","data":{"user_id":"dana","order_id":"10","total":9.5,"currency":"USD"}}`),
		dead(`not json`),
	})
	res, err := e.replayer(t, "sf", replay.Config{Topics: []string{event.TopicInvalid}}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revived != 1 || res.Invalid != 2 {
		t.Errorf("result %+v, want 1 revived and 2 still invalid", res)
	}
	msgs := e.k.ReadTopic(t, event.TopicPurchase, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on purchase, want 1", len(msgs))
	}
	ev, err := stream.FromMessage(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID() != "fixed-1" || !ev.Time().Equal(at) || string(msgs[0].Key) != "dana" {
		t.Errorf("re-published %s at %s keyed %s, want fixed-1 at %s keyed dana", ev.ID(), ev.Time(), msgs[0].Key, at)
	}
}

// TestASwitchWhileEventsKeepComingLeavesNoGap keeps writing orders while a
// fresh namespace is built and switched live: once the updater has applied
// them all, the namespace now live equals a rebuild of the whole topics.
func TestASwitchWhileEventsKeepComingLeavesNoGap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msgs := history(t)
	e.write(t, msgs)
	T := day(400)
	_, reg := e.liveWith(t, T, len(msgs))

	const more = 400
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range more {
			c := fmt.Sprintf("c%02d", i%40)
			m := testenv.Message(t, fmt.Sprint("more-", i), event.OrderCompleted, c, day(200+i%150),
				fmt.Sprintf(`{"user_id":%q,"order_id":"more-%d","total":"%d.00","currency":"USD"}`, c, i, 1+i%30))
			if err := e.w.WriteMessages(ctx, m); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	res, err := e.replayer(t, "sf2", replay.Config{Switch: true, SwitchLag: 5, BatchSize: 20, Now: func() time.Time { return T }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-written
	waitApplied(t, reg, len(msgs)+more)
	if !res.Switched {
		t.Fatalf("not switched: %+v", res)
	}
	t.Logf("replayed %d events before and during the switch", res.Read)

	if _, err := e.replayer(t, "check", replay.Config{Bulk: true, Now: func() time.Time { return T }}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	diffs, n, err := replay.Compare(ctx, profile.New(e.rdb, e.cfg).In("sf2"), profile.New(e.rdb, e.cfg).In("check"), T)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("the live namespace after the switch differs from a whole rebuild (%d customers): %v", n, diffs)
	}
	testenv.SameKeys(t, testenv.CustomerKeys(t, e.rdb, "check"), testenv.CustomerKeys(t, e.rdb, "sf2"))
}

// TestAReplayInPlaceChangesNothingAppliedAndFillsGaps replays the topics
// into the live namespace the updater built: every key stays as it was but
// for the published snapshots, which are evaluated again as of now (against
// the whole population, where the updater saw it still arriving), and the
// writers' bookkeeping, which a change so published moves (it takes a
// writer's id); no change is dated in the past; an event the updater never
// applied is filled in.
func TestAReplayInPlaceChangesNothingAppliedAndFillsGaps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msgs := history(t)
	e.write(t, msgs)
	T := day(400)
	e.live(t, T, len(msgs))() // stopped: what comes next is a gap
	before := testenv.State(t, e.rdb, "sf")

	rec := &recorder{}
	r, err := replay.New(replay.Config{Brokers: e.k.Brokers, InPlace: true, Changes: replay.ChangesBackfill, Now: func() time.Time { return T }},
		profile.New(e.rdb, e.cfg), e.rdb, rec, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != int64(len(msgs)) {
		t.Errorf("result %+v, want all %d events applied", res, len(msgs))
	}
	after := testenv.State(t, e.rdb, "sf")
	delete(after, ":{#replay}:progress")
	if len(after) != len(before) {
		t.Errorf("%d keys after the replay, %d before", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("key %s changed: %s\nwas %s", k, after[k], v)
		}
	}
	for _, m := range rec.all() {
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Time().Equal(T) {
			t.Errorf("a replay in place announced a change at %s, not now (%s)", ev.Time(), T)
		}
	}

	e.write(t, []kafka.Message{testenv.Message(t, "gap", event.OrderCompleted, "c05", day(390), `{"user_id":"c05","order_id":"gap","total":"3.00","currency":"USD"}`)})
	old, _ := profile.New(e.rdb, e.cfg).Get(ctx, T, []string{"c05"})
	if _, err := e.replayer(t, "sf", replay.Config{InPlace: true, Now: func() time.Time { return T }}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := profile.New(e.rdb, e.cfg).Get(ctx, T, []string{"c05"})
	if got[0].Orders != old[0].Orders+1 || !got[0].Last.Equal(day(390)) {
		t.Errorf("c05 after the gap was filled: %d orders, last %s; want %d, last %s", got[0].Orders, got[0].Last, old[0].Orders+1, day(390))
	}
}

// indexer runs the segment indexer on the profiles topic until the test ends.
func (e *env) indexer(t *testing.T) {
	t.Helper()
	x := &index.Indexer{Brokers: e.k.Brokers, Index: index.New(e.rdb, "sf"), Erasures: privacy.New(e.rdb)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// profileCounts counts the customers of namespace ns by NES stage, tier and
// tag: stages from their profiles at T, and everything from the snapshots
// they published (the derived field of their profile hash), which is what the
// index holds. Tags relative to the population (big_spender) can shift
// without a change being published, as segments can.
func (e *env) profileCounts(t *testing.T, ns string, T time.Time) (stages map[string]int64, published map[string]map[string]int64) {
	t.Helper()
	ctx := context.Background()
	store := profile.New(e.rdb, e.cfg).In(ns)
	stages = map[string]int64{}
	published = map[string]map[string]int64{index.Stage: {}, index.Tier: {}, index.Tag: {}}
	err := store.Customers(ctx, func(cs []string) error {
		ps, err := store.Get(ctx, T, cs)
		if err != nil {
			return err
		}
		snaps, err := store.Published(ctx, cs)
		if err != nil {
			return err
		}
		for _, p := range ps {
			stages[string(p.Stage)]++
			snap, ok := snaps[p.Customer]
			if !ok {
				return fmt.Errorf("no snapshot of %s was published", p.Customer)
			}
			published[index.Stage][string(snap.Stage)]++
			if snap.Tier != "" {
				published[index.Tier][snap.Tier]++
			}
			for _, tg := range snap.Tags {
				published[index.Tag][tg]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stages, published
}

// indexCounts are the counts of the index of namespace ns.
func (e *env) indexCounts(t *testing.T, ns string) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, kind := range []string{index.Stage, index.Tier, index.Tag} {
		c, err := index.New(e.rdb, ns).Counts(context.Background(), kind)
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = c
	}
	return out
}

// waitIndexed waits until the index of ns holds customer.
func (e *env) waitIndexed(t *testing.T, ns, customer string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, _ := index.New(e.rdb, ns).Customers(context.Background()); slices.Contains(got, customer) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not indexed in %s", customer, ns)
		}
	}
}

// TestASwitchComesWithTheSegmentIndexOfTheNewNamespace runs the updater and
// the indexer on "sf", then, the updater stopped, an order of a new customer
// comes, which only the replay into "sf2" applies: at the switch, the index of
// sf2 counts what its profiles hold, the new customer included; the indexer
// puts the changes of the updater, started again, into the index of sf2; and
// dropping sf drops its index.
func TestASwitchComesWithTheSegmentIndexOfTheNewNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msgs := history(t)
	e.write(t, msgs)
	T := day(400)
	e.indexer(t)
	stop := e.live(t, T, len(msgs))
	e.waitIndexed(t, "sf", "newbie")
	stop()
	order := func(id, c string) kafka.Message {
		return testenv.Message(t, id, event.OrderCompleted, c, day(399), fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"30.00","currency":"USD"}`, c, id))
	}
	e.write(t, []kafka.Message{order("extra-1", "extra")})

	res, err := e.replayer(t, "sf2", replay.Config{Switch: true, Now: func() time.Time { return T }}).Run(ctx)
	if err != nil || !res.Switched {
		t.Fatalf("switched %v: %v", res.Switched, err)
	}
	got := e.indexCounts(t, "sf2")
	stages, want := e.profileCounts(t, "sf2", T)
	for _, kind := range []string{index.Stage, index.Tier, index.Tag} {
		if !maps.Equal(got[kind], want[kind]) {
			t.Errorf("%s counts of the index of sf2 %v, want those its profiles published %v", kind, got[kind], want[kind])
		}
	}
	if !maps.Equal(got[index.Stage], stages) {
		t.Errorf("stages of the index of sf2 %v, want those of its profiles at T %v", got[index.Stage], stages)
	}
	if old := e.indexCounts(t, "sf"); maps.Equal(old[index.Stage], got[index.Stage]) {
		t.Errorf("the stages of sf %v and sf2 %v, want sf2's to count the new customer", old[index.Stage], got[index.Stage])
	}
	e.waitIndexed(t, "sf2", "extra")

	e.live(t, T, 1)
	e.write(t, []kafka.Message{order("late-1", "latecomer")})
	e.waitIndexed(t, "sf2", "latecomer")
	if got, _ := index.New(e.rdb, "sf").Customers(ctx); slices.Contains(got, "latecomer") || slices.Contains(got, "extra") {
		t.Errorf("the index of sf got changes after the switch: %v", got)
	}
	if _, err := profile.DropNamespace(ctx, e.rdb, "sf", "sf"); err != nil {
		t.Fatal(err)
	}
	if left := testenv.Keys(t, e.rdb, "sf:{#ix*"); len(left) > 0 {
		t.Errorf("dropping sf left its index: %v", left)
	}
}

// TestReplayingDeadLettersTwiceRePublishesNothingTheSecondTime replays
// events.invalid holding a letter whose original is valid now, a second
// letter of that original (as another consumer group writes), and the
// profile-updater's letter of an order in another currency, which the
// updater would reject again. Before, every run re-published all three, and
// the updater's new letters doubled the topic at each run.
func TestReplayingDeadLettersTwiceRePublishesNothingTheSecondTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := testenv.Message(t, "fixed-1", event.OrderCompleted, "dana", at, `{"user_id":"dana","order_id":"9","total":"9.00","currency":"USD"}`)
	euro := testenv.Message(t, "in-euro", event.OrderCompleted, "dana", at, `{"user_id":"dana","order_id":"10","total":"9.00","currency":"EUR"}`)
	letter := func(m kafka.Message, source, reason string) kafka.Message {
		dl, err := stream.DeadLetter(m, source, reason, errors.New(reason))
		if err != nil {
			t.Fatal(err)
		}
		return dl
	}
	e.write(t, []kafka.Message{
		letter(good, "/profile-updater", "refused"),
		letter(good, "/trigger", "refused"),
		letter(euro, "/profile-updater", "currency"),
	})

	for run, want := range []replay.Result{{Revived: 1, Republished: 1, Invalid: 1}, {Revived: 0, Republished: 2, Invalid: 1}} {
		res, err := e.replayer(t, "sf", replay.Config{Topics: []string{event.TopicInvalid}, InPlace: true}).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Revived != want.Revived || res.Republished != want.Republished || res.Invalid != want.Invalid {
			t.Errorf("run %d: revived %d, re-published before %d, still invalid %d; want %d, %d, %d",
				run+1, res.Revived, res.Republished, res.Invalid, want.Revived, want.Republished, want.Invalid)
		}
	}
	msgs := e.k.ReadTopic(t, event.TopicPurchase, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on purchase after two replays, want the valid original once", len(msgs))
	}
	if ev, err := stream.FromMessage(msgs[0]); err != nil || ev.ID() != "fixed-1" {
		t.Errorf("re-published %v (%v), want fixed-1", ev, err)
	}
}
