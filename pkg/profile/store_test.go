package profile_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func day(n float64) time.Time { return t0.Add(time.Duration(n * float64(24*time.Hour))) }

func ev(t *testing.T, id, typ, customer string, at time.Time, data string) profile.Op {
	t.Helper()
	op, err := profile.OpOf(testenv.Event(id, typ, customer, at, data), "USD")
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func order(t *testing.T, customer, id string, at time.Time, total string) profile.Op {
	return ev(t, "ev-"+id, event.OrderCompleted, customer, at, fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":%q,"currency":"USD","items":[{"sku":"S-%s","category":"cat-%s"}]}`, customer, id, total, id[:1], id[:1]))
}

func newStore(t *testing.T, rdb redis.UniversalClient, prefix string) *profile.Store {
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return profile.New(rdb, profile.Config{Prefix: prefix, Rules: rules})
}

func history(t *testing.T) []profile.Op {
	return []profile.Op{
		order(t, "alice", "a1", day(0), "100.00"),
		ev(t, "v1", event.ProductViewed, "alice", day(1), `{"user_id":"alice","product":{"sku":"JKT","category":"coats"}}`),
		order(t, "alice", "a2", day(20), "50.50"),
		ev(t, "r1", event.OrderRefunded, "alice", day(21), `{"user_id":"alice","order_id":"a2","total":"20.25","currency":"USD"}`),
		order(t, "bob", "b1", day(5), "10"),
		ev(t, "c1", event.ProductAdded, "bob", day(6), `{"user_id":"bob","product":{"sku":"MUG","price":"8.00"},"quantity":2}`),
		ev(t, "c2", event.ProductAdded, "bob", day(6.5), `{"user_id":"bob","product":{"sku":"CUP","price":"3.00"}}`),
		ev(t, "c3", event.ProductRemoved, "bob", day(7), `{"user_id":"bob","product":{"sku":"CUP"}}`),
		order(t, "carol", "c1", day(-400), "999"),
		order(t, "carol", "c2", day(30), "5"),
		ev(t, "i1", event.Identify, "carol", day(31), `{"user_id":"carol","traits":{"timezone":"Asia/Taipei"},"consent":{"email":true}}`),
		order(t, "dave", "d1", day(29), "70"),
	}
}

func TestApplyingEventsTwiceOrShuffledGivesTheSameState(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	T := day(40)
	ops := history(t)

	once := newStore(t, rdb, "once")
	applyCommit(t, once, T, ops)
	want := testenv.Dump(t, rdb, "once")

	twice := newStore(t, rdb, "twice")
	applyCommit(t, twice, T, ops)
	if dups := applyCommit(t, twice, T, ops); dups != 7 {
		t.Errorf("second application skipped %d orders and refunds as duplicates, want 7", dups)
	}
	assertSame(t, "applied twice", want, testenv.Dump(t, rdb, "twice"))

	for seed := range 5 {
		shuffled := append([]profile.Op(nil), ops...)
		rand.New(rand.NewPCG(uint64(seed), 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		prefix := fmt.Sprint("shuffled", seed)
		s := newStore(t, rdb, prefix)
		// One event at a time, as separate batches, in shuffled order.
		for _, op := range shuffled {
			applyCommit(t, s, T, []profile.Op{op})
		}
		// The published snapshots depend on the path; everything else must not.
		assertSame(t, prefix, testenv.Dump(t, rdb, "once", "derived"), testenv.Dump(t, rdb, prefix, "derived"))
	}
}

// applyCommit applies ops as of T and commits their changes, as the
// updater does once it has published them, and returns the duplicates.
func applyCommit(t *testing.T, s *profile.Store, T time.Time, ops []profile.Op) int {
	t.Helper()
	ctx := context.Background()
	changes, dups, err := s.Apply(ctx, T, ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	return dups
}

// assertSame compares two dumps of namespaces, but for the writers'
// bookkeeping (profile.IsBookkeeping).
func assertSame(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for _, m := range []map[string]string{want, got} {
		for k := range m {
			if profile.IsBookkeeping("", k) { // Dump cut the prefix
				delete(m, k)
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %s, want %s", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected key %s", what, k)
		}
	}
}

func TestScoresAgreeWithScoringTheWholePopulation(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "pop")
	rng := rand.New(rand.NewPCG(7, 7))
	T := day(400)
	var ops []profile.Op
	type hist struct{ orders, refunds []rfm.Order }
	hs := map[string]*hist{}
	lasts := map[string]time.Time{}
	for i := range 300 {
		c := fmt.Sprintf("cust-%03d", i%60)
		at := day(float64(rng.IntN(800)) / 2) // up to day 400, some outside the window
		cents := 100 * (1 + rng.IntN(20))     // few distinct amounts: ties
		ops = append(ops, order(t, c, fmt.Sprintf("o%d", i), at, fmt.Sprintf("%d.%02d", cents/100, cents%100)))
		if hs[c] == nil {
			hs[c] = &hist{}
		}
		hs[c].orders = append(hs[c].orders, rfm.Order{Time: at, Amount: int64(cents) * 10_000})
		if at.After(lasts[c]) {
			lasts[c] = at
		}
	}
	changes, _, err := s.Apply(ctx, T, ops)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for c := range hs {
		names = append(names, c)
	}
	sort.Strings(names)
	vs := make([]rfm.Values, len(names))
	for i, c := range names {
		vs[i] = rfm.Of(hs[c].orders, hs[c].refunds, lasts[c], T, rfm.DefaultWindow)
	}
	want, _ := rfm.Compute(vs)
	// The last change of each customer holds its snapshot at T; re-evaluating
	// everyone at T (population complete) must agree with Compute.
	final := map[string]profile.Snapshot{}
	for _, ch := range changes {
		final[ch.Customer] = ch.After
	}
	var reeval []profile.Op
	for _, c := range names {
		reeval = append(reeval, profile.Op{Customer: c, Kind: "none"})
	}
	_ = final
	snaps, err := s.Evaluate(ctx, T, names)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range names {
		got := snaps[i]
		if got.RScore != want[i].R || got.FScore != want[i].F || got.MScore != want[i].M || got.Segment != want[i].Segment {
			t.Errorf("%s %+v: got R%d F%d M%d %s, want R%d F%d M%d %s", c, vs[i], got.RScore, got.FScore, got.MScore, got.Segment, want[i].R, want[i].F, want[i].M, want[i].Segment)
		}
	}
	_ = reeval
}

func TestTimeAloneMovesACustomerThroughTheStages(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "nes")
	// Two orders 10 days apart, each in its own batch: cycle 10 days.
	first, _, err := s.Apply(ctx, day(0), []profile.Op{order(t, "erin", "e1", day(0), "10")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, _, err := s.Apply(ctx, day(10), []profile.Op{order(t, "erin", "e2", day(10), "10")})
	if err != nil {
		t.Fatal(err)
	}
	changes := append(first, second...)
	var stages []nes.Stage
	for _, ch := range changes {
		stages = append(stages, ch.After.Stage)
	}
	if fmt.Sprint(stages) != "[N E0]" {
		t.Fatalf("stages after two orders: %v, want [N E0]", stages)
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	// Walk the clock to day 60 in hours; collect the time-driven changes.
	var seen []string
	for T := day(10); !T.After(day(60)); T = T.Add(time.Hour) {
		chs, _, err := s.Due(ctx, T, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, chs); err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			if ch.Before.Stage != ch.After.Stage {
				seen = append(seen, fmt.Sprintf("%s->%s due %s", ch.Before.Stage, ch.After.Stage, ch.Cause.Due.Sub(t0)))
			}
		}
	}
	want := []string{"E0->S1 due 480h0m0.001s", "S1->S2 due 720h0m0.001s", "S2->S3 due 960h0m0.001s"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("transitions %v, want %v", seen, want)
	}
}

func TestABuyerWithEverythingRefundedIsScoredWithMZero(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "zero")
	ops := []profile.Op{
		order(t, "frank", "f1", day(1), "0.00"),
		order(t, "gina", "g1", day(1), "25"),
		ev(t, "rg", event.OrderRefunded, "gina", day(2), `{"user_id":"gina","order_id":"g1","total":"25","currency":"USD"}`),
	}
	// Applied twice: the second time the population entries with M = 0 are replaced.
	for range 2 {
		if _, _, err := s.Apply(ctx, day(3), ops); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.Evaluate(ctx, day(3), []string{"frank", "gina"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Values.F != 1 || p.Values.M != 0 || p.MScore != 1 || p.Segment != rfm.ImportantValue {
			t.Errorf("%s: %+v scores %d/%d/%d %s, want F 1, M 0, M score 1, important_value (every value equals its mean)", p.Customer, p.Values, p.RScore, p.FScore, p.MScore, p.Segment)
		}
	}
}

func TestIdentifyMergesTheAnonymousProfileOnce(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "merge")
	anon := "anon:visitor-1"
	before := []profile.Op{
		ev(t, "v1", event.ProductViewed, anon, day(1), `{"anonymous_id":"visitor-1","product":{"sku":"JKT","category":"coats"}}`),
		ev(t, "c1", event.ProductAdded, anon, day(1.1), `{"anonymous_id":"visitor-1","product":{"sku":"JKT","price":"80"}}`),
		order(t, "hana", "h1", day(0), "30"),
	}
	identify := ev(t, "id1", event.Identify, "hana", day(2), `{"user_id":"hana","anonymous_id":"visitor-1","traits":{"email":"h@example.com"}}`)
	late := ev(t, "v2", event.ProductViewed, anon, day(2.5), `{"anonymous_id":"visitor-1","product":{"sku":"HAT","category":"hats"}}`)
	T := day(3)
	applyCommit(t, s, T, before)
	changes, _, err := s.Apply(ctx, T, []profile.Op{identify, late})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	first := testenv.Dump(t, rdb, "merge")
	// Redelivered: the merge and the forwarded event change nothing more.
	applyCommit(t, s, T, []profile.Op{identify, late})
	assertSame(t, "merge applied twice", first, testenv.Dump(t, rdb, "merge"))

	hana := first[":{hana}:r"]
	if got := hana; !strings.Contains(got, "vs:[JKT@") || !strings.Contains(got, "HAT@") {
		t.Errorf("hana's viewed products %s, want JKT (before the link) and HAT (forwarded after it)", got)
	}
	if got := hana; !strings.Contains(got, "cart:[JKT=") {
		t.Errorf("hana's cart %s, want the anonymous cart's JKT", got)
	}
	if got := hana; !strings.Contains(got, "merged:["+anon+"]") {
		t.Errorf("hana's merged ids %s, want %s", got, anon)
	}
	if _, ok := first[":{#timers}:due"]; ok && strings.Contains(first[":{#timers}:due"], anon) {
		t.Errorf("the merged profile keeps a timer: %s", first[":{#timers}:due"])
	}
	for _, ch := range changes {
		if ch.Customer == anon {
			t.Errorf("a change was published for the merged profile: %+v", ch)
		}
	}
	ps, err := s.Evaluate(ctx, T, []string{"hana"})
	if err != nil {
		t.Fatal(err)
	}
	if tags := fmt.Sprint(ps[0].Tags); !strings.Contains(tags, "viewed_not_bought:JKT") || !strings.Contains(tags, "viewed_not_bought:HAT") {
		t.Errorf("hana's tags %s, want the anonymous views as viewed_not_bought", tags)
	}
}

func TestOrdersAgeOutOfTheWindowWithoutNewEvents(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "age")
	ops := []profile.Op{order(t, "ivan", "i1", day(0), "40"), order(t, "ivan", "i2", day(100), "60"), order(t, "judy", "j1", day(50), "10")}
	changes, _, err := s.Apply(ctx, day(100), ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	values := func(T time.Time) string {
		ps, err := s.Evaluate(ctx, T, []string{"ivan", "judy"})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("ivan F%d M%d %q, judy F%d M%d %q", ps[0].Values.F, ps[0].Values.M, ps[0].Segment, ps[1].Values.F, ps[1].Values.M, ps[1].Segment)
	}
	// Only timers move the clock on: no event arrives after day 100.
	var segments []string
	for T := day(100); !T.After(day(500)); T = T.Add(24 * time.Hour) {
		chs, _, err := s.Due(ctx, T, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, chs); err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			if ch.Before.Segment != ch.After.Segment {
				segments = append(segments, fmt.Sprintf("day %d %s: %q->%q", int(ch.At.Sub(t0).Hours()/24), ch.Customer, ch.Before.Segment, ch.After.Segment))
			}
		}
		switch T {
		case day(366): // i1 (day 0) has left the window; j1 (day 50) and i2 (day 100) remain.
			// Means: R (266+316)/2 = 291, F 1, M 35: judy is R low, F high, M low.
			if got, want := values(T), `ivan F1 M60000000 "important_value", judy F1 M10000000 "general_keep"`; got != want {
				t.Errorf("day 366: %s, want %s", got, want)
			}
		case day(416): // j1 has left: judy is no longer a buyer
			if got, want := values(T), `ivan F1 M60000000 "important_value", judy F0 M0 ""`; got != want {
				t.Errorf("day 416: %s, want %s", got, want)
			}
		}
	}
	// Judy's order leaves the window at day 415 (50 + 365), ivan's at day 465.
	if got := strings.Join(segments, "; "); got != `day 415 judy: "general_retain"->""; day 465 ivan: "important_value"->""` {
		t.Errorf("segment changes %v: want judy leaving the buyers when her order ages out", segments)
	}
}

func TestWritingWithoutEvaluationThenEvaluatingGivesTheSameProfiles(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	T := day(40)
	applied, written := newStore(t, rdb, "applied"), newStore(t, rdb, "written")
	if _, _, err := applied.Apply(ctx, T, history(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := written.Write(ctx, T, history(t)); err != nil {
		t.Fatal(err)
	}
	if dups, err := written.Write(ctx, T, history(t)); err != nil || dups != 7 {
		t.Fatalf("writing again: %d duplicates, %v; want 7", dups, err)
	}
	customers := []string{"alice", "bob", "carol", "dave"}
	want, err := applied.Evaluate(ctx, T, customers)
	if err != nil {
		t.Fatal(err)
	}
	got, err := written.Evaluate(ctx, T, customers)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("%s: written then evaluated %+v, applied %+v", customers[i], got[i], want[i])
		}
	}
}

func TestTwoWritersOfTheSameCustomersAtOnceLoseNothing(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// 600 events of 150 customers, with anonymous visitors who are linked to a
	// customer midway and keep sending events under their anonymous id, so
	// that events are forwarded across shards.
	rng := rand.New(rand.NewPCG(7, 7))
	var ops []profile.Op
	for i := range 600 {
		c := fmt.Sprintf("c%03d", rng.IntN(150))
		at := day(float64(rng.IntN(60)))
		id := fmt.Sprint("e", i)
		switch r := rng.IntN(10); {
		case r < 4:
			ops = append(ops, ev(t, id, event.ProductViewed, c, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"S%d","category":"k%d"}}`, c, rng.IntN(30), rng.IntN(5))))
		case r < 6:
			ops = append(ops, ev(t, id, event.ProductAdded, c, at, fmt.Sprintf(`{"user_id":%q,"product":{"sku":"S%d","price":"4.50"}}`, c, rng.IntN(30))))
		case r < 9:
			ops = append(ops, order(t, c, fmt.Sprintf("%c%d", 'a'+rng.IntN(5), i), at, fmt.Sprintf("%d.25", 1+rng.IntN(300))))
		default:
			anon := fmt.Sprintf("v%03d", rng.IntN(40))
			ops = append(ops, ev(t, id, event.ProductViewed, event.CustomerID("", anon), at, fmt.Sprintf(`{"anonymous_id":%q,"product":{"sku":"S1"}}`, anon)))
			if rng.IntN(2) == 0 {
				ops = append(ops, ev(t, id+"-id", event.Identify, c, at, fmt.Sprintf(`{"user_id":%q,"anonymous_id":%q}`, c, anon)))
			}
		}
	}
	apply := func(s *profile.Store, ops []profile.Op) error {
		for i := 0; i < len(ops); i += 300 {
			changes, _, err := s.Apply(ctx, day(61), ops[i:min(i+300, len(ops))])
			if err != nil {
				return err
			}
			if err := s.Commit(ctx, changes); err != nil {
				return err
			}
		}
		return nil
	}
	// Identity merges are left out: where a merged visitor's event lands
	// depends on which merge came first, by design.
	ops = slices.DeleteFunc(ops, func(op profile.Op) bool { return op.Merge != "" })
	if err := apply(profile.New(rdb, profile.Config{Prefix: "one", Rules: rules}), ops); err != nil {
		t.Fatal(err)
	}
	// Two writers, each with its own cache of records, apply half the events
	// each at once, three times over (as two updaters during a rebalance,
	// redelivering): their writes conflict, and each conflict is run again
	// from fresh reads, so no writer's events are lost.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		s := profile.New(rdb, profile.Config{Prefix: "two", Rules: rules})
		var mine []profile.Op // every other event: joins, so the order does not matter
		for i := w; i < len(ops); i += 2 {
			mine = append(mine, ops[i])
		}
		wg.Go(func() {
			// Each writer's cache holds records the other overwrites.
			for range 3 {
				if errs[w] = apply(s, mine); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The state is the same; what was published and when it was evaluated
	// depend on who evaluated when.
	one, two := testenv.CustomerKeys(t, rdb, "one"), testenv.CustomerKeys(t, rdb, "two")
	if len(one) < 150 {
		t.Fatalf("only %d keys: the test does not exercise the store", len(one))
	}
	assertSame(t, "two writers", one, two)
}

// A bulk write of more customers than one call of the compare-and-set
// script takes (maxCASKeys, 256) is split over several calls, in order of
// the customers, and a conflict in any call runs the batch again from
// fresh reads: here in the third, where another writer wrote the last
// customer after this writer's cache took it.
func TestAConflictInAnyCallOfABulkWriteIsNoticed(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	orders := func(round int, customers ...int) []profile.Op {
		var ops []profile.Op
		for _, i := range customers {
			c := fmt.Sprintf("c%04d", i)
			ops = append(ops, order(t, c, fmt.Sprintf("%c%d-%d", 'a'+i%5, round, i), day(float64(round)), fmt.Sprintf("%d.25", 1+i%300)))
		}
		return ops
	}
	all := make([]int, 600)
	for i := range all {
		all[i] = i
	}
	a, b, one := newStore(t, rdb, "two"), newStore(t, rdb, "two"), newStore(t, rdb, "one")
	for _, w := range []struct {
		s   *profile.Store
		ops []profile.Op
	}{
		{a, orders(1, all...)},
		{b, orders(2, 599)},
		{a, orders(3, all...)},
	} {
		if _, err := w.s.Write(ctx, day(61), w.ops); err != nil {
			t.Fatal(err)
		}
		if _, err := one.Write(ctx, day(61), w.ops); err != nil {
			t.Fatal(err)
		}
	}
	want, got := testenv.CustomerKeys(t, rdb, "one"), testenv.CustomerKeys(t, rdb, "two")
	if len(want) < 600 {
		t.Fatalf("only %d keys", len(want))
	}
	assertSame(t, "two writers", want, got)
}

// A purchase after T (an event time a few hours ahead of the clock) gives R
// 0, and counts 0 in the buyers' mean R too: c, 5 days since their last
// purchase, is at the mean of 10, 0 and 5 days, so R high.
func TestAPurchaseAfterTCountsZeroDaysInTheMeanR(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "ahead")
	T := day(100)
	ops := []profile.Op{
		order(t, "a", "a1", day(90), "10.00"),
		order(t, "b", "b1", day(95), "10.00"),
		order(t, "b", "b2", day(100+20.0/24), "10.00"),
		order(t, "c", "c1", day(95), "10.00"),
	}
	if _, _, err := s.Apply(ctx, T, ops); err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Evaluate(ctx, T, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	vs := []rfm.Values{{R: 10, F: 1, M: 10_000_000}, {R: 0, F: 1, M: 10_000_000}, {R: 5, F: 1, M: 10_000_000}}
	want, _ := rfm.Compute(vs)
	for i, c := range []string{"a", "b", "c"} {
		if got := snaps[i]; got.RScore != want[i].R || got.Segment != want[i].Segment {
			t.Errorf("%s: R score %d, %s; want %d, %s", c, got.RScore, got.Segment, want[i].R, want[i].Segment)
		}
	}
	if want[2].Segment != rfm.ImportantValue {
		t.Fatalf("the reference puts c in %s: the test shows nothing", want[2].Segment)
	}
}

// Refunds larger than the orders (returns of orders bought before the data
// begins, as in UCI Online Retail) leave lifetime spend at 0, which the
// lowest tier covers: the customer has a tier, as every customer does.
func TestACustomerWhoseRefundsExceedTheirOrdersHasTheLowestTier(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "refunds")
	ops := []profile.Op{
		order(t, "hal", "h1", day(1), "10.00"),
		ev(t, "rh1", event.OrderRefunded, "hal", day(2), `{"user_id":"hal","order_id":"h0","total":"30.00","currency":"USD"}`),
		ev(t, "ri1", event.OrderRefunded, "ida", day(2), `{"user_id":"ida","order_id":"i0","total":"5.00","currency":"USD"}`),
	}
	if _, _, err := s.Apply(ctx, day(3), ops); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Evaluate(ctx, day(3), []string{"hal", "ida"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Lifetime != 0 || p.Tier != "member" {
			t.Errorf("%s: lifetime %d, tier %q; want 0 and member", p.Customer, p.Lifetime, p.Tier)
		}
	}
}

// Evaluating or committing a customer who has no record (erased while their
// timer or change was on its way) leaves them without one.
func TestNeitherAnEvaluationNorACommitBringsBackACustomerWithoutARecord(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "ghost")
	T := day(10)
	changes, _, err := s.Apply(ctx, T, []profile.Op{order(t, "gone", "g1", day(1), "10.00")})
	if err != nil || len(changes) == 0 {
		t.Fatalf("apply: %d changes, %v", len(changes), err)
	}
	if _, err := s.Erase(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := s.Rescore(ctx, T, profile.Cause{}, func([]profile.Change, []string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Due(ctx, day(400), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Evaluate(ctx, T, []string{"gone", "never"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"gone", "never"} {
		if ok, err := s.Exists(ctx, c); err != nil || ok {
			t.Errorf("%s has a profile again (%v)", c, err)
		}
	}
	if keys := testenv.Keys(t, rdb, "ghost:{[^#]*"); len(keys) > 0 {
		t.Errorf("keys left: %v", keys)
	}
}

// commandCounter is a go-redis hook counting the commands sent.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// A writer's summaries of the customers it has just evaluated are those
// Redis holds, answered from the records it wrote without a read, and stay
// so through merges, redeliveries, writes without evaluation, an erasure
// and evaluations of customers without a record. (An evaluation that moves
// a customer's population entry in time alone is not written: the writer's
// summary is then of the later time, Redis's of the earlier.)
func TestAWritersSummariesOfItsCustomersNeedNoRead(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	var count commandCounter
	rdb := srv.Client(t)
	rdb.AddHook(&count)
	writer := newStore(t, rdb, "sum")
	ops := history(t)
	changes, _, err := writer.Apply(ctx, day(40), ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	var customers []string
	for _, op := range ops {
		customers = append(customers, op.Customer)
	}
	slices.Sort(customers)
	customers = slices.Compact(customers)
	before := count.n.Load()
	got, err := writer.Summaries(ctx, customers)
	if err != nil {
		t.Fatal(err)
	}
	if n := count.n.Load() - before; n != 0 {
		t.Errorf("the writer sent %d commands for summaries of its own customers, want none", n)
	}
	want, err := newStore(t, srv.Client(t), "sum").Summaries(ctx, customers)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(customers) || !reflect.DeepEqual(got, want) {
		t.Errorf("writer's summaries\n%+v\nwant what Redis holds\n%+v", got, want)
	}

	visitor := []profile.Op{
		ev(t, "v9", event.ProductViewed, "anon:v9", day(41), `{"anonymous_id":"v9","product":{"sku":"HAT","category":"hats"}}`),
		ev(t, "c9", event.ProductAdded, "anon:v9", day(41.1), `{"anonymous_id":"v9","product":{"sku":"HAT","price":"12.00"}}`),
	}
	merge := []profile.Op{
		ev(t, "i9", event.Identify, "dave", day(42), `{"user_id":"dave","anonymous_id":"v9","traits":{"timezone":"Asia/Taipei"}}`),
		order(t, "dave", "d2", day(42.5), "30"),
		ev(t, "v10", event.ProductViewed, "alice", day(42.6), `{"user_id":"alice","product":{"sku":"HAT","category":"hats"}}`),
	}
	customers = append(customers, "anon:v9", "zed")
	must := func(_ any, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		what string
		run  func()
	}{
		{"a visitor's events", func() { applyCommit(t, writer, day(41.5), visitor) }},
		{"a merge with an order and a view", func() { applyCommit(t, writer, day(43), merge) }},
		{"the same events again", func() { applyCommit(t, writer, day(43), merge) }},
		{"events written without evaluation", func() { must(writer.Write(ctx, day(44), []profile.Op{order(t, "alice", "a3", day(43.5), "8")})) }},
		{"an erasure", func() { must(writer.Erase(ctx, "bob")) }},
		{"an evaluation of customers without a record", func() { must(writer.Evaluate(ctx, day(45), []string{"zed", "bob"})) }},
	}
	for _, step := range steps {
		step.run()
		got, err := writer.Summaries(ctx, customers)
		if err != nil {
			t.Fatal(err)
		}
		want, err := newStore(t, srv.Client(t), "sum").Summaries(ctx, customers)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after %s, the writer's summaries\n%+v\nwant what Redis holds\n%+v", step.what, got, want)
		}
	}
}

// A store that is the sole scheduler of its namespace skips reading timer
// shards that cannot hold a timer due yet; it still finds every timer due
// that Redis holds: walking 300 customers' timers a day at a time, the
// customers each Due evaluates are those a read of every shard finds due.
func TestTheSoleSchedulerFindsEveryTimerDue(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "sole")
	s.SoleScheduler(true)
	rng := rand.New(rand.NewPCG(3, 3))
	var ops []profile.Op
	for i := range 900 {
		c := fmt.Sprintf("c%03d", rng.IntN(300))
		ops = append(ops, order(t, c, fmt.Sprint("o", i), day(float64(rng.IntN(90))), "10"))
	}
	var shards []string
	for n := range keys.Shards {
		shards = append(shards, keys.ShardN("sole", "timers", n)+":due")
	}
	fired := 0
	for d := 0; d <= 500; d++ {
		T := day(float64(d))
		var batch []profile.Op
		for _, op := range ops {
			if op.Time.Before(T) && !op.Time.Before(day(float64(d-1))) {
				batch = append(batch, op)
			}
		}
		changes, _, err := s.Apply(ctx, T, batch)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, changes); err != nil {
			t.Fatal(err)
		}
		for {
			want, err := keyspace.Earliest(ctx, rdb, shards, T.UnixMilli(), 50)
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := s.Due(ctx, T, 50)
			if err != nil {
				t.Fatal(err)
			}
			var wantIDs []string
			for _, z := range want {
				wantIDs = append(wantIDs, z.Member.(string))
			}
			if !slices.Equal(got, wantIDs) {
				t.Fatalf("day %d: Due evaluated %v, Redis holds %v due", d, got, wantIDs)
			}
			fired += len(got)
			if len(got) == 0 {
				break
			}
		}
	}
	if fired < 300 {
		t.Fatalf("only %d timers fired: the test does not exercise the timers", fired)
	}
}

// commandsNamed is a go-redis hook counting the commands of one name.
type commandsNamed struct {
	name string
	n    atomic.Int64
}

func (c *commandsNamed) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandsNamed) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == c.name {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *commandsNamed) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if cmd.Name() == c.name {
				c.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// A writer writes a customer's timer when it moves, not at each event: a
// view leaves the next stage where the order put it. The timer is still
// right, and still falls due.
func TestAWriterWritesATimerOnlyWhenItMoves(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(t)
	zadds := &commandsNamed{name: "zadd"}
	rdb.AddHook(zadds)
	ctx := context.Background()
	// The first write loads the scripts and runs its pipeline again.
	if _, _, err := newStore(t, rdb, "warm").Apply(ctx, day(0), []profile.Op{order(t, "warm", "w1", day(0), "1.00")}); err != nil {
		t.Fatal(err)
	}
	zadds.n.Store(0)
	s := newStore(t, rdb, "timers")
	if _, _, err := s.Apply(ctx, day(1), []profile.Op{order(t, "tia", "t1", day(1), "10.00")}); err != nil {
		t.Fatal(err)
	}
	first, _, ok, err := s.NextDue(ctx, day(1000), 0)
	if err != nil || !ok {
		t.Fatalf("no timer after an order: %v", err)
	}
	written := zadds.n.Load()
	if written != 1 {
		t.Fatalf("%d timers written for an order, want 1", written)
	}
	for i := range 3 {
		view := ev(t, fmt.Sprint("v", i), event.ProductViewed, "tia", day(2+float64(i)), `{"user_id":"tia","product":{"sku":"MUG"}}`)
		if _, _, err := s.Apply(ctx, day(2+float64(i)), []profile.Op{view}); err != nil {
			t.Fatal(err)
		}
	}
	if n := zadds.n.Load() - written; n != 0 {
		t.Errorf("%d timers written for three views that leave it where it was, want 0", n)
	}
	if due, _, ok, err := s.NextDue(ctx, day(1000), 0); err != nil || !ok || !due.Equal(first) {
		t.Errorf("timer after the views: %s %v %v; want %s", due, ok, err, first)
	}
	// Another path (a refit's Reschedule) moves it earlier: it falls due,
	// and its evaluation writes it back where it belongs.
	var zset string
	for i := range keys.Shards {
		k := keys.ShardN("timers", "timers", i) + ":due"
		if rdb.ZScore(ctx, k, "tia").Err() == nil {
			zset = k
		}
	}
	if err := rdb.ZAdd(ctx, zset, redis.Z{Score: float64(day(10).UnixMilli()), Member: "tia"}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Due(ctx, day(10), 10); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Backlog(ctx, day(10)); err != nil || n != 0 {
		t.Errorf("%d timers still due at the earlier time (%v): the timer was not written again", n, err)
	}
	if due, _, ok, err := s.NextDue(ctx, day(1000), 0); err != nil || !ok || !due.Equal(first) {
		t.Errorf("timer after the earlier one fell due: %s %v %v; want %s", due, ok, err, first)
	}
	// It falls due, and moves on: the next one is written.
	changes, _, err := s.Due(ctx, first, 10)
	if err != nil || len(changes) != 1 {
		t.Fatalf("the timer at %s: %d changes, %v; want 1", first, len(changes), err)
	}
	if next, _, ok, err := s.NextDue(ctx, day(1000), 0); err != nil || !ok || !next.After(first) {
		t.Errorf("the timer after %s fell due: %s %v %v; want a later one", first, next, ok, err)
	}
	// A second order moves it.
	before := zadds.n.Load()
	if _, _, err := s.Apply(ctx, first, []profile.Op{order(t, "tia", "t2", first, "10.00")}); err != nil {
		t.Fatal(err)
	}
	if zadds.n.Load() == before {
		t.Error("a second order, which moves the next stage, wrote no timer")
	}
}

// A batch without identity merges is applied on every core, each core taking
// the customers whose records it holds (a merged visitor's events land in
// the customer's): its profiles, snapshots, changes and duplicates are those
// of applying it in order on one core.
func TestABatchAppliedOnEveryCoreIsTheBatchAppliedInOrder(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	// Visitors merged into customers earlier, whose events are forwarded;
	// u40 to u44 have no events of their own in the batch, only a cart line
	// of their visitor's.
	var merges []profile.Op
	for i := range 45 {
		merges = append(merges, ev(t, fmt.Sprint("id", i), event.Identify, fmt.Sprint("u", i), day(1),
			fmt.Sprintf(`{"user_id":"u%d","anonymous_id":"v%d"}`, i, i)))
	}
	var ops []profile.Op
	for i := range 600 {
		c := fmt.Sprint("u", r.IntN(40))
		if r.IntN(3) == 0 {
			c = fmt.Sprint("anon:v", r.IntN(20))
		}
		at := day(2 + r.Float64()*300)
		user := fmt.Sprintf(`"user_id":%q`, c)
		if v, ok := strings.CutPrefix(c, "anon:"); ok {
			user = fmt.Sprintf(`"anonymous_id":%q`, v)
		}
		switch r.IntN(4) {
		case 0:
			ops = append(ops, ev(t, fmt.Sprint("e", i), event.ProductViewed, c, at, fmt.Sprintf(`{%s,"product":{"sku":"S%d","category":"k%d"}}`, user, r.IntN(30), r.IntN(5))))
		case 1:
			ops = append(ops, ev(t, fmt.Sprint("e", i), event.ProductAdded, c, at, fmt.Sprintf(`{%s,"product":{"sku":"S%d","price":"%d.00"}}`, user, r.IntN(30), 1+r.IntN(90))))
		default: // orders, some of them again (duplicates)
			id := fmt.Sprint("o", r.IntN(300))
			ops = append(ops, ev(t, "e-"+id, event.OrderCompleted, c, at, fmt.Sprintf(`{%s,"order_id":%q,"total":"%d.00","currency":"USD","items":[{"sku":"S%d","category":"k%d"}]}`, user, id, 5+r.IntN(200), r.IntN(30), r.IntN(5))))
		}
	}
	for i := 40; i < 45; i++ {
		at := r.IntN(len(ops))
		ops = slices.Insert(ops, at, ev(t, fmt.Sprint("cart", i), event.ProductAdded, fmt.Sprint("anon:v", i), day(100), fmt.Sprintf(`{"anonymous_id":"v%d","product":{"sku":"S1","price":"9.00"}}`, i)))
	}
	T := day(320)
	apply := func(prefix string, cores int) ([]profile.Change, int) {
		s := newStore(t, rdb, prefix)
		applyCommit(t, s, day(1), merges)
		// A cart line of their own, which changes no snapshot: the records
		// of u40 to u44 are then written with no batch open, so that only
		// the forwarded cart line makes them dirty.
		var carts []profile.Op
		for i := 40; i < 45; i++ {
			carts = append(carts, ev(t, fmt.Sprint("own", i), event.ProductAdded, fmt.Sprint("u", i), day(1.5), fmt.Sprintf(`{"user_id":"u%d","product":{"sku":"S2","price":"4.00"}}`, i)))
		}
		applyCommit(t, s, day(1.5), carts)
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
		changes, dups, err := s.Apply(ctx, T, ops)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, changes); err != nil {
			t.Fatal(err)
		}
		return changes, dups
	}
	inOrder, inOrderDups := apply("one", 1)
	byCustomer, byCustomerDups := apply("four", 4)
	assertSame(t, "applied on every core", testenv.Dump(t, rdb, "one"), testenv.Dump(t, rdb, "four"))
	if inOrderDups != byCustomerDups || inOrderDups == 0 {
		t.Errorf("duplicates: %d on every core, %d in order", byCustomerDups, inOrderDups)
	}
	if len(inOrder) != len(byCustomer) || len(inOrder) == 0 {
		t.Fatalf("%d changes on every core, %d in order", len(byCustomer), len(inOrder))
	}
	for i := range inOrder {
		a, b := inOrder[i], byCustomer[i]
		if a.Customer != b.Customer || a.Cause != b.Cause || !reflect.DeepEqual(a.Before, b.Before) || !reflect.DeepEqual(a.After, b.After) {
			t.Errorf("change %d: on every core %+v, in order %+v", i, b, a)
		}
	}
}
