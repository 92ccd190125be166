package broadcast_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/view"
)

const campaigns = `
default_timezone: UTC
campaigns:
  - name: anniversary_points
    kind: broadcast
    channel: email
    holdout: 0.2
    action: {type: points, params: {points: "500"}}
`

// T is the time the tests run at: a Monday.
var T = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

type env struct {
	t      testing.TB
	kafka  *testenv.Kafka
	rdb    redis.UniversalClient
	store  *profile.Store
	cfg    *campaign.Config
	writer *kafka.Writer
	bs     *broadcast.Store
}

func start(t testing.TB, yaml string) *env { return startOn(t, yaml, testenv.StartRedis(t)) }

// startOn is start with the Redis given (a cluster, whatever
// SEGFLOW_TEST_REDIS says).
func startOn(t testing.TB, yaml string, r *testenv.Redis) *env {
	k := testenv.StartKafka(t, stream.Topic{Name: trigger.TopicTriggers, Partitions: 3}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 3})
	rdb := r.Client(t)
	cfg, err := campaign.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	return &env{t: t, kafka: k, rdb: rdb, store: profile.New(rdb, profile.Config{Rules: rules}), cfg: cfg, writer: w, bs: broadcast.NewStore(rdb)}
}

// customers makes n buyers c00000 … (one order each, so at stage N) with
// consent to email unless refused says otherwise, in time zone tz if set,
// and one prospect who is in no audience of buyers.
func (e *env) customers(n int, refused map[string]bool, tz map[string]string) []string {
	e.t.Helper()
	var ids []string
	var ops []profile.Op
	add := func(ev cloudevents.Event) {
		op, err := profile.OpOf(ev, "USD")
		if err != nil {
			e.t.Fatal(err)
		}
		ops = append(ops, op)
	}
	for i := range n {
		c := fmt.Sprintf("c%05d", i)
		ids = append(ids, c)
		traits := ""
		if tz[c] != "" {
			traits = fmt.Sprintf(`,"traits":{"timezone":%q}`, tz[c])
		}
		add(testenv.Event("id-"+c, event.Identify, c, T.Add(-48*time.Hour), fmt.Sprintf(`{"user_id":%q,"consent":{"email":%v}%s}`, c, !refused[c], traits)))
		add(testenv.Event("o-"+c, event.OrderCompleted, c, T.Add(-24*time.Hour), fmt.Sprintf(`{"user_id":%q,"order_id":"o-%s","total":"10.00","currency":"USD"}`, c, c)))
	}
	add(testenv.Event("id-prospect", event.Identify, "prospect", T.Add(-48*time.Hour), `{"user_id":"prospect","consent":{"email":true}}`))
	for len(ops) > 0 {
		k := min(len(ops), 2000)
		if _, _, err := e.store.Apply(context.Background(), T, ops[:k]); err != nil {
			e.t.Fatal(err)
		}
		ops = ops[k:]
	}
	return ids
}

func (e *env) engine() *trigger.Engine { return trigger.NewEngine(e.cfg, e.rdb, e.store, e.writer) }

func (e *env) runner(d broadcast.Decider) *broadcast.Runner {
	return &broadcast.Runner{Store: e.bs, Decider: d, Audience: api.Audiences{RDB: e.rdb, Store: e.store, Views: view.FromStore{Store: e.store}}, Batch: 7, Fill: 10}
}

// run steps r from now in steps of tick until no broadcast has members left
// to decide, and returns the time it stopped at.
func (e *env) run(r *broadcast.Runner, now time.Time, tick time.Duration) time.Time {
	e.t.Helper()
	ctx := context.Background()
	for range 100_000 {
		if err := r.Step(ctx, now); err != nil {
			e.t.Fatal(err)
		}
		if idle, err := r.Idle(ctx, now); err != nil || idle {
			if err != nil {
				e.t.Fatal(err)
			}
			return now
		}
		now = now.Add(tick)
	}
	e.t.Fatal("broadcasts still running after 100000 steps")
	return now
}

type decision struct {
	id string
	trigger.Decision
}

// decisions reads want decisions from the triggers and decisions topics
// together, and fails unless there are exactly want; want 0 reads those
// there are.
func (e *env) decisions(want int) []decision {
	e.t.Helper()
	var out []decision
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = out[:0]
		for _, topic := range []string{trigger.TopicTriggers, trigger.TopicDecisions} {
			for _, m := range e.kafka.ReadTopic(e.t, topic, 0, 5*time.Second) {
				ev, err := stream.FromMessage(m)
				if err != nil {
					e.t.Fatalf("%s: not a CloudEvent: %v", topic, err)
				}
				var d trigger.Decision
				if err := json.Unmarshal(ev.Data(), &d); err != nil {
					e.t.Fatal(err)
				}
				out = append(out, decision{ev.ID(), d})
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want > 0 && len(out) != want {
		e.t.Fatalf("%d decisions, want %d", len(out), want)
	}
	return out
}

// expected is each member's outcome by the campaign's definition: held out
// by campaign.Assign first, then refused consent, else sent.
func expected(name string, holdout float64, members []string, refused map[string]bool) map[string]string {
	out := map[string]string{}
	for _, c := range members {
		_, held := campaign.Assign(name, c, nil, holdout)
		switch {
		case held:
			out[c] = trigger.Holdout
		case refused[c]:
			out[c] = trigger.Consent
		default:
			out[c] = trigger.Sent
		}
	}
	return out
}

// checkOnePerMember fails unless every member has exactly one decision, of
// the outcome wanted, with an id of its own, and nobody else has one.
func checkOnePerMember(t testing.TB, got []decision, want map[string]string) {
	t.Helper()
	ids := map[string]bool{}
	by := map[string]int{}
	for _, d := range got {
		by[d.Customer]++
		if want[d.Customer] == "" {
			t.Errorf("%s, not a member, got a decision", d.Customer)
		}
		if d.Outcome != want[d.Customer] {
			t.Errorf("%s: outcome %s, want %s", d.Customer, d.Outcome, want[d.Customer])
		}
		if ids[d.id] {
			t.Errorf("decision id %s twice", d.id)
		}
		ids[d.id] = true
	}
	for c := range want {
		if by[c] != 1 {
			t.Errorf("%s: %d decisions, want 1", c, by[c])
		}
	}
}

func counts(want map[string]string) map[string]int64 {
	out := map[string]int64{}
	for _, o := range want {
		out[o]++
	}
	return out
}

func sameCounts(t testing.TB, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
		return
	}
	for o, n := range want {
		if got[o] != n {
			t.Errorf("outcomes %v, want %v", got, want)
			return
		}
	}
}

func TestABroadcastDecidesEveryMemberOnceThroughTheCampaignsGuards(t *testing.T) {
	e := start(t, campaigns)
	refused := map[string]bool{"c00003": true, "c00011": true}
	members := e.customers(40, refused, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	e.run(e.runner(e.engine()), T, 100*time.Millisecond)

	want := expected("anniversary_points", 0.2, members, refused)
	got := e.decisions(len(members))
	checkOnePerMember(t, got, want)
	for _, d := range got {
		if d.Outcome == trigger.Sent && (d.Action.Type != "points" || d.Action.Params["points"] != "500") {
			t.Errorf("%s: action %+v, want the campaign's points", d.Customer, d.Action)
		}
		if len(d.Reason.Events) != 1 || d.Reason.Events[0] != broadcast.Cause("b1", "once") {
			t.Errorf("%s: reason %v, want the broadcast's occurrence", d.Customer, d.Reason.Events)
		}
	}
	v, err := e.bs.Get(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	p := v.Progress
	if p.Status != broadcast.Done || p.Members != int64(len(members)) || p.Decided != int64(len(members)) || p.Occurrences != 1 {
		t.Errorf("progress %+v, want done with %d members decided", p, len(members))
	}
	sameCounts(t, p.Outcomes, counts(want))
}

// crashing publishes the decisions of its n-th batch and then fails, as a
// process killed before it recorded them.
type crashing struct {
	broadcast.Decider
	n, calls int
}

var errKilled = errors.New("killed")

func (c *crashing) Broadcast(ctx context.Context, T time.Time, name, cause string, customers []string) ([]string, error) {
	out, err := c.Decider.Broadcast(ctx, T, name, cause, customers)
	if c.calls++; c.calls == c.n {
		return nil, errKilled
	}
	return out, err
}

func TestABroadcastKilledMidwayAndRestartedDecidesEachMemberExactlyOnce(t *testing.T) {
	e := start(t, campaigns)
	refused := map[string]bool{"c00005": true}
	members := e.customers(60, refused, nil)
	ctx := context.Background()
	b := broadcast.Broadcast{ID: "b-kill", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}
	if _, err := e.bs.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	first := e.runner(&crashing{Decider: e.engine(), n: 4})
	first.Lease = time.Millisecond
	now := T
	for first.Failures() == 0 {
		if err := first.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(100 * time.Millisecond)
	}
	v, _ := e.bs.Get(ctx, b.ID)
	if v.Progress.Decided == 0 || v.Progress.Decided >= int64(len(members)) {
		t.Fatalf("killed after %d of %d decided, want midway", v.Progress.Decided, len(members))
	}
	time.Sleep(10 * time.Millisecond) // the dead runner's lease runs out

	// A new process, and the broadcast made again by a retried request.
	if _, err := e.bs.Create(ctx, b); err != nil {
		t.Fatalf("the same broadcast again: %v", err)
	}
	now = e.run(e.runner(e.engine()), now, 100*time.Millisecond)
	e.run(e.runner(e.engine()), now.Add(time.Hour), time.Second) // and once more, finished

	want := expected("anniversary_points", 0.2, members, refused)
	checkOnePerMember(t, e.decisions(len(members)), want)
	v, err := e.bs.Get(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Progress.Status != broadcast.Done || v.Progress.Decided != int64(len(members)) {
		t.Errorf("progress %+v, want done with %d decided", v.Progress, len(members))
	}
	sameCounts(t, v.Progress.Outcomes, counts(want))
}

func TestABroadcastMadeAgainWithAnotherDefinitionIsRefused(t *testing.T) {
	e := start(t, campaigns)
	ctx := context.Background()
	b := broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, CreatedAt: T}
	if _, err := e.bs.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Audience = "stage:E0"
	if _, err := e.bs.Create(ctx, b); !errors.Is(err, broadcast.ErrExists) {
		t.Errorf("another broadcast with the same id: %v, want ErrExists", err)
	}
}

func TestARateLimitSpreadsABroadcastOverTime(t *testing.T) {
	e := start(t, campaigns)
	members := e.customers(50, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "slow", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 10, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	r := e.runner(e.engine())
	r.Batch = 1000
	// Fill the queue (50 members in pages of 10), then 2 seconds of steps
	// every 100 ms: at most 10 a second, and one second's worth at the start.
	now := T
	for range 6 {
		if err := r.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		now = now.Add(100 * time.Millisecond)
		if err := r.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := e.bs.Get(ctx, "slow")
	if v.Progress.Members != int64(len(members)) {
		t.Fatalf("%d members queued, want %d", v.Progress.Members, len(members))
	}
	if d := v.Progress.Decided; d < 25 || d > 30 {
		t.Errorf("%d decided in 2 s at 10/s with a burst of 10, want 25 to 30", d)
	}
	e.run(r, now, 100*time.Millisecond)
	v, _ = e.bs.Get(ctx, "slow")
	if v.Progress.Decided != int64(len(members)) {
		t.Errorf("%d decided in the end, want %d", v.Progress.Decided, len(members))
	}
}

func TestACancelledBroadcastDecidesNoMore(t *testing.T) {
	e := start(t, campaigns)
	e.customers(30, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	r := e.runner(e.engine())
	now := T
	for range 6 { // 3 pages and an empty one queued, 2 batches of 7 decided
		if err := r.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	if _, err := e.bs.Cancel(ctx, "b1", now); err != nil {
		t.Fatal(err)
	}
	e.run(r, now, time.Second)
	v, _ := e.bs.Get(ctx, "b1")
	if v.Progress.Status != broadcast.Cancelled || v.Progress.Decided != 14 {
		t.Errorf("progress %+v, want cancelled after 14 decided", v.Progress)
	}
	e.decisions(14)
	if _, err := e.bs.Cancel(ctx, "nope", now); !errors.Is(err, broadcast.ErrNotFound) {
		t.Errorf("cancel an unknown broadcast: %v", err)
	}
}

func TestAWeeklyBroadcastReachesEachCustomerAtTheHourOnTheirWallClock(t *testing.T) {
	e := start(t, campaigns)
	tz := map[string]string{"c00000": "Asia/Hong_Kong", "c00001": "Europe/London", "c00002": "America/New_York"}
	e.customers(3, nil, tz)
	ctx := context.Background()
	// Made Sunday 6 December 2026 12:00 UTC, weekly on Monday at 10:00:
	// Monday 10:00 is 02:00 UTC in Hong Kong, 10:00 in London, 15:00 in New York.
	made := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "weekly", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Weekly, Weekday: "monday", Hour: 10}, Rate: 1000, CreatedAt: made}); err != nil {
		t.Fatal(err)
	}
	r := e.runner(e.engine())
	decidedBy := func(at time.Time) int64 {
		t.Helper()
		for now := made; !now.After(at); now = now.Add(30 * time.Minute) {
			if err := r.Step(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		v, _ := e.bs.Get(ctx, "weekly")
		return v.Progress.Decided
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{time.Date(2026, 12, 7, 1, 30, 0, 0, time.UTC), 0},
		{time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 7, 14, 30, 0, 0, time.UTC), 2},
		{time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC), 3},
	} {
		if got := decidedBy(tc.at); got != tc.want {
			t.Errorf("by %s: %d decided, want %d", tc.at.Format(time.RFC3339), got, tc.want)
		}
	}
	// The occurrence is over at the next step; the next Monday's is scheduled.
	decidedBy(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC))
	v, _ := e.bs.Get(ctx, "weekly")
	if p := v.Progress; p.Status != broadcast.Scheduled || p.Occurrence != "2026-12-14" || p.Occurrences != 1 || p.Outcomes[trigger.Sent]+p.Outcomes[trigger.Holdout] != 3 {
		t.Errorf("progress %+v, want the 14 December occurrence scheduled after one of 3", p)
	}
	e.decisions(3)
}

func TestBroadcastDecisionsAreAttributedLikeTriggeredOnes(t *testing.T) {
	e := start(t, campaigns)
	members := e.customers(40, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	en := e.engine()
	now := e.run(e.runner(en), T, 100*time.Millisecond)
	want := expected("anniversary_points", 0.2, members, nil)
	// One treated and one held-out member buy the next day.
	var treated, held string
	for _, c := range members {
		switch {
		case want[c] == trigger.Sent && treated == "":
			treated = c
		case want[c] == trigger.Holdout && held == "":
			held = c
		}
	}
	if treated == "" || held == "" {
		t.Fatal("no treated or no held-out member")
	}
	for _, c := range []string{treated, held} {
		ev := testenv.Event("buy-"+c, event.OrderCompleted, c, now.Add(24*time.Hour), fmt.Sprintf(`{"user_id":%q,"order_id":"buy-%s","total":"25.00","currency":"USD"}`, c, c))
		if err := en.Handle(ctx, now.Add(24*time.Hour), ev); err != nil {
			t.Fatal(err)
		}
	}
	res, err := en.Results(ctx, "anniversary_points")
	if err != nil {
		t.Fatal(err)
	}
	n := counts(want)
	got := map[string]trigger.Result{}
	for _, r := range res {
		got[r.Group] = r
	}
	if r := got[trigger.Treated]; r.Decided != n[trigger.Sent] || r.Converted != 1 || r.Revenue != 25_000_000 {
		t.Errorf("treated %+v, want %d decided, 1 converted for 25.00", r, n[trigger.Sent])
	}
	if r := got[trigger.Held]; r.Decided != n[trigger.Holdout] || r.Converted != 1 || r.Revenue != 25_000_000 {
		t.Errorf("holdout %+v, want %d decided, 1 converted for 25.00", r, n[trigger.Holdout])
	}
}

// TestABroadcastToManyMembers decides SEGFLOW_BROADCAST_MEMBERS members
// (default 2000; 100000 for the figure in the README) and checks one
// decision each with the guards honoured. It logs the time to decide all.
func TestABroadcastToManyMembers(t *testing.T) {
	n := 2000
	if v := os.Getenv("SEGFLOW_BROADCAST_MEMBERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	e := start(t, campaigns)
	refused := map[string]bool{}
	for i := 0; i < n; i += 97 {
		refused[fmt.Sprintf("c%05d", i)] = true
	}
	members := e.customers(n, refused, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "big", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: broadcast.MaxRate, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	v := view.New(e.store.NES(), e.store.Rules())
	if err := view.Load(ctx, e.store, v); err != nil {
		t.Fatal(err)
	}
	r := &broadcast.Runner{Store: e.bs, Decider: e.engine(), Audience: api.Audiences{RDB: e.rdb, Store: e.store, Views: loaded{v}}, Batch: 1000, Fill: 20000}
	began := time.Now()
	e.run(r, T, time.Second)
	took := time.Since(began)
	t.Logf("%d members decided in %s (%.0f a second)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	want := expected("anniversary_points", 0.2, members, refused)
	checkOnePerMember(t, e.decisions(n), want)
	got, _ := e.bs.Get(ctx, "big")
	sameCounts(t, got.Progress.Outcomes, counts(want))
}

func TestABroadcastDuringQuietHoursWaitsForTheirEndAndSendsOnce(t *testing.T) {
	e := start(t, "quiet_hours: {start: \"21:00\", end: \"09:00\"}\n"+campaigns)
	members := e.customers(10, nil, nil)
	ctx := context.Background()
	night := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "night", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: night}); err != nil {
		t.Fatal(err)
	}
	en := e.engine()
	e.run(e.runner(en), night, time.Second)
	want := expected("anniversary_points", 0.2, members, nil)
	v, _ := e.bs.Get(ctx, "night")
	n := counts(want)
	// Holdout is decided at once; a send waits for the morning.
	sameCounts(t, v.Progress.Outcomes, map[string]int64{trigger.Holdout: n[trigger.Holdout], trigger.Waiting: n[trigger.Sent]})
	morning := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	if _, err := en.Due(ctx, morning, 100); err != nil {
		t.Fatal(err)
	}
	// Running the broadcast again sends nothing more.
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "night", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: night}); err != nil {
		t.Fatal(err)
	}
	e.run(e.runner(e.engine()), morning, time.Second)
	got := e.decisions(len(members))
	checkOnePerMember(t, got, want)
	for _, d := range got {
		if d.Outcome == trigger.Sent && !d.DecidedAt.Equal(morning) {
			t.Errorf("%s sent at %s, want at the end of the quiet hours", d.Customer, d.DecidedAt)
		}
	}
}

func TestABroadcastToACampaignRemovedFails(t *testing.T) {
	e := start(t, campaigns)
	e.customers(3, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "gone", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	e.run(e.runner(e.engine()), T, time.Second)
	v, _ := e.bs.Get(ctx, "b1")
	if v.Progress.Status != broadcast.Failed || !strings.Contains(v.Progress.Error, "gone") {
		t.Errorf("progress %+v, want failed naming the campaign", v.Progress)
	}
	if _, err := e.bs.Cancel(ctx, "b1", T); !errors.Is(err, broadcast.ErrFinished) {
		t.Errorf("cancel a failed broadcast: %v, want ErrFinished", err)
	}
}

func TestAMemberErasedAfterTheAudienceWasTakenGetsNoDecision(t *testing.T) {
	e := start(t, campaigns)
	members := e.customers(10, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	r := e.runner(e.engine())
	r.Fill = 100
	if err := r.Step(ctx, T); err != nil { // the whole audience queued
		t.Fatal(err)
	}
	if err := privacy.New(e.rdb).Record(ctx, "c00004", T.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e.run(r, T.Add(2*time.Second), time.Second)
	want := expected("anniversary_points", 0.2, members, nil)
	delete(want, "c00004")
	checkOnePerMember(t, e.decisions(len(want)), want)
	v, _ := e.bs.Get(ctx, "b1")
	n := counts(want)
	n[broadcast.Erased] = 1
	sameCounts(t, v.Progress.Outcomes, n)
}

func TestTwoRunnersSteppingOneBroadcastAtOnceMakeOneDecisionPerMemberAndCountItOnce(t *testing.T) {
	e := start(t, campaigns)
	members := e.customers(80, nil, nil)
	ctx := context.Background()
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "b1", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	// Leases that run out at once, so that both runners step it.
	done := make(chan error, 2)
	for range 2 {
		r := e.runner(e.engine())
		r.Lease = time.Millisecond
		go func() {
			now := T
			for range 10_000 {
				if err := r.Step(ctx, now); err != nil {
					done <- err
					return
				}
				if idle, err := r.Idle(ctx, now); err != nil || idle {
					done <- err
					return
				}
				now = now.Add(100 * time.Millisecond)
			}
			done <- errors.New("still running")
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	want := expected("anniversary_points", 0.2, members, nil)
	// A decision may be announced twice, with one id, which consumers dedup.
	byID := map[string]decision{}
	for _, d := range e.decisions(0) {
		byID[d.id] = d
	}
	var got []decision
	for _, d := range byID {
		got = append(got, d)
	}
	checkOnePerMember(t, got, want)
	v, _ := e.bs.Get(ctx, "b1")
	if v.Progress.Decided != int64(len(members)) {
		t.Errorf("%d counted decided, want %d", v.Progress.Decided, len(members))
	}
	sameCounts(t, v.Progress.Outcomes, counts(want))
}

func TestMembersWaitingForTheEndOfTheQuietHoursAreCountedByTheirOutcomeOnceDecided(t *testing.T) {
	e := start(t, "quiet_hours: {start: \"21:00\", end: \"09:00\"}\n"+campaigns)
	members := e.customers(10, nil, nil)
	ctx := context.Background()
	night := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "night", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 1000, CreatedAt: night}); err != nil {
		t.Fatal(err)
	}
	en := e.engine()
	r := e.runner(en)
	r.Lease = time.Millisecond
	e.run(r, night, time.Second)
	want := expected("anniversary_points", 0.2, members, nil)
	n := counts(want)
	// Stepped through the night: the sends still wait, and stay counted so.
	for at := night; at.Before(night.Add(time.Hour)); at = at.Add(time.Minute) {
		if err := r.Step(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := e.bs.Get(ctx, "night")
	sameCounts(t, v.Progress.Outcomes, map[string]int64{trigger.Holdout: n[trigger.Holdout], trigger.Waiting: n[trigger.Sent]})
	morning := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	if _, err := en.Due(ctx, morning, 100); err != nil {
		t.Fatal(err)
	}
	// Other runners come to it, one after the other, once the first one's
	// lease has run out.
	for _, at := range []time.Time{morning, morning.Add(time.Second), morning.Add(time.Hour)} {
		time.Sleep(5 * time.Millisecond)
		other := e.runner(e.engine())
		other.Lease = time.Millisecond
		if err := other.Step(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	checkOnePerMember(t, e.decisions(len(members)), want)
	v, _ = e.bs.Get(ctx, "night")
	sameCounts(t, v.Progress.Outcomes, n)
	if v.Progress.Status != broadcast.Done || v.Progress.Decided != int64(len(members)) {
		t.Errorf("progress %+v, want done with every member decided", v.Progress)
	}
}

func TestOccurrencesMissedByMoreThanTheGraceAreSkippedAndCounted(t *testing.T) {
	e := start(t, campaigns)
	members := e.customers(20, nil, nil)
	ctx := context.Background()
	// Weekly on Mondays at 10:00: 7, 14 and 21 December; the runner comes
	// back on Tuesday the 22nd at 09:00, when the 21st's hour has not passed
	// yet in the last time zone (UTC-12) but the 7th's and 14th's passed a
	// week and more ago.
	if _, err := e.bs.Create(ctx, broadcast.Broadcast{ID: "weekly", Campaign: "anniversary_points", Audience: "stage:N", Schedule: broadcast.Schedule{Kind: broadcast.Weekly, Weekday: "monday", Hour: 10}, Rate: 1000, CreatedAt: T}); err != nil {
		t.Fatal(err)
	}
	back := time.Date(2026, 12, 22, 9, 0, 0, 0, time.UTC)
	e.run(e.runner(e.engine()), back, time.Second)
	got := e.decisions(len(members))
	checkOnePerMember(t, got, expected("anniversary_points", 0.2, members, nil))
	for _, d := range got {
		if want := "broadcast:weekly:2026-12-21"; len(d.Reason.Events) != 1 || d.Reason.Events[0] != want {
			t.Errorf("%s decided by %v, want by %s", d.Customer, d.Reason.Events, want)
		}
	}
	v, _ := e.bs.Get(ctx, "weekly")
	if v.Progress.OccurrencesSkipped != 2 || v.Progress.Occurrences != 1 || v.Progress.Occurrence != "2026-12-28" {
		t.Errorf("progress %+v, want 2 occurrences skipped, 1 sent, the next on 2026-12-28", v.Progress)
	}
}
