package index

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// history makes n customers' changes over a few days: each customer moves
// through stages, segments, tiers and tags, one change per step.
func history(n int) []profile.Change {
	stages := []nes.Stage{nes.New, nes.Active, nes.Dozing, nes.HalfAsleep, nes.DeepAsleep}
	segs := []string{"important_value", "general_retain", "general_develop"}
	tiers := []string{"member", "silver", "gold"}
	var out []profile.Change
	for c := range n {
		for step := range 1 + c%4 {
			after := profile.Snapshot{
				Stage: stages[(c+step)%len(stages)], Segment: segs[(c*step)%len(segs)], Tier: tiers[step%len(tiers)],
			}
			if (c+step)%2 == 0 {
				after.Tags = append(after.Tags, "big_spender")
			}
			if c%3 == 0 {
				after.Tags = append(after.Tags, "bought:category:dog")
			}
			out = append(out, profile.Change{
				Customer: fmt.Sprintf("c%03d", c), At: t0.Add(time.Duration(step)*30*time.Hour + time.Duration(c)*time.Minute), After: after,
			})
		}
	}
	return out
}

// latest is each customer's last change by At: what the index must reflect.
func latest(changes []profile.Change) map[string]profile.Snapshot {
	at := map[string]time.Time{}
	out := map[string]profile.Snapshot{}
	for _, ch := range changes {
		if t, ok := at[ch.Customer]; !ok || !ch.At.Before(t) {
			at[ch.Customer], out[ch.Customer] = ch.At, ch.After
		}
	}
	return out
}

func expectedCounts(snaps map[string]profile.Snapshot) map[string]map[string]int64 {
	want := map[string]map[string]int64{Stage: {}, Segment: {}, Tier: {}, Tag: {}}
	for _, s := range snaps {
		want[Stage][string(s.Stage)]++
		want[Segment][s.Segment]++
		want[Tier][s.Tier]++
		for _, tg := range s.Tags {
			want[Tag][tg]++
		}
	}
	return want
}

func checkCounts(t *testing.T, ix *Index, snaps map[string]profile.Snapshot) {
	t.Helper()
	for kind, want := range expectedCounts(snaps) {
		got, err := ix.Counts(context.Background(), kind)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s counts %v, want %v", kind, got, want)
		}
	}
}

func TestIndexHoldsEachCustomersLatestSnapshotWhateverTheDelivery(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	changes := history(40)
	want := latest(changes)

	ix := New(rdb, "a")
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, ix, want)
	// Every change delivered twice, shuffled: the same index, except the
	// daily record, which follows arrival.
	twice := append(slices.Clone(changes), changes...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(twice), func(i, j int) { twice[i], twice[j] = twice[j], twice[i] })
	other := New(rdb, "b")
	if err := other.Apply(ctx, twice); err != nil {
		t.Fatal(err)
	}
	a, b := sets(t, rdb, "a"), sets(t, rdb, "b")
	if !maps.Equal(a, b) {
		t.Errorf("shuffled duplicate delivery gives another index:\n%v\nwant\n%v", b, a)
	}
}

// sets dumps a namespace's index without the daily record, which follows
// arrival order: the entries and the counts of every shard.
func sets(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]string {
	d := testenv.Dump(t, rdb, prefix)
	for k := range d {
		if strings.HasSuffix(k, ":days") {
			delete(d, k)
		}
	}
	return d
}

func TestEraseRemovesTheCustomerFromEverySet(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	ix := New(rdb, "")
	changes := history(10)
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := ix.Erase(ctx, "c003"); err != nil {
		t.Fatal(err)
	}
	want := latest(changes)
	delete(want, "c003")
	checkCounts(t, ix, want)
	for k, v := range testenv.Dump(t, rdb, "sf") {
		if strings.Contains(k+v, "c003") {
			t.Errorf("key %s still holds the erased customer: %s", k, v)
		}
	}
	all, _ := ix.Customers(ctx)
	if len(all) != 9 || slices.Contains(all, "c003") {
		t.Errorf("customers after erasure: %v", all)
	}
}

func TestDaysRecordTheStageDistributionAtEachDaysLastChange(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	ix := New(rdb, "")
	changes := history(30)
	slices.SortStableFunc(changes, func(a, b profile.Change) int { return a.At.Compare(b.At) })
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	checkDays(t, ix, changes)
	if days, _ := ix.Days(ctx, t0.AddDate(0, 0, 1), t0.AddDate(0, 0, 1)); len(days) != 1 || days[0].Date != "2026-03-02" {
		t.Errorf("one day's range gives %v", days)
	}
}

// checkDays checks the NES record of ix against changes applied in time
// order, replayed independently: the distribution after the last change of
// each day.
func checkDays(t *testing.T, ix *Index, changes []profile.Change) {
	t.Helper()
	want := map[string]map[string]int64{}
	cur := map[string]profile.Snapshot{}
	for _, ch := range changes {
		cur[ch.Customer] = ch.After
		dist := map[string]int64{}
		for _, st := range []string{"prospect", "N", "E0", "S1", "S2", "S3"} {
			dist[st] = 0
		}
		for _, s := range cur {
			dist[string(s.Stage)]++
		}
		want[ch.At.Format(time.DateOnly)] = dist
	}
	days, err := ix.Days(context.Background(), t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != len(want) {
		t.Fatalf("%d days recorded, want %d", len(days), len(want))
	}
	for i, d := range days {
		if i > 0 && days[i-1].Date >= d.Date {
			t.Errorf("days out of order: %s then %s", days[i-1].Date, d.Date)
		}
		if !maps.Equal(d.Stages, want[d.Date]) {
			t.Errorf("day %s: %v, want %v", d.Date, d.Stages, want[d.Date])
		}
	}
}

// TestTheIndexOfManyCustomersIsSpreadOverShardsAndAddsUpExactly indexes the
// history of 1,000 customers: their entries land in at least 200 of the 256
// shards (on a cluster, no master holds the index), and the counts, the
// customers and the NES record by day, added up over the shards, are those
// of an independent replay of the history.
func TestTheIndexOfManyCustomersIsSpreadOverShardsAndAddsUpExactly(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	ix := New(rdb, "")
	changes := history(1000)
	slices.SortStableFunc(changes, func(a, b profile.Change) int { return a.At.Compare(b.At) })
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, k := range testenv.Keys(t, rdb, "sf:{#ix*}:snap") {
		if rdb.HLen(ctx, k).Val() > 0 {
			entries++
		}
	}
	if entries < 200 {
		t.Errorf("the entries of 1000 customers are in %d shards, want at least 200", entries)
	}
	want := latest(changes)
	checkCounts(t, ix, want)
	if all, _ := ix.Customers(ctx); len(all) != len(want) || !slices.IsSorted(all) {
		t.Errorf("%d customers indexed, want %d, sorted", len(all), len(want))
	}
	checkDays(t, ix, changes)
}

// TestTheRebuildsDayCountsOnlyTheRebuiltCustomers indexes 200 customers in
// "sf", then rebuilds "sf2" from the profiles of half of them and copies the
// record of sf: the day of the rebuild counts the 100 only, also in the
// shards that the other 100 alone filled in sf.
func TestTheRebuildsDayCountsOnlyTheRebuiltCustomers(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	ix, ix2 := New(rdb, "sf"), New(rdb, "sf2")
	changes := history(200)
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	var half []profile.Change
	for _, ch := range changes {
		if n, _ := strconv.Atoi(ch.Customer[1:]); n%2 == 0 {
			half = append(half, ch)
		}
	}
	half = publish(t, profileStore(t, rdb, "sf2"), half)
	now := t0.Add(300 * time.Hour)
	if n, err := ix2.Rebuild(ctx, profileStore(t, rdb, "sf2"), now); err != nil || n != 100 {
		t.Fatalf("rebuilt %d customers (%v), want 100", n, err)
	}
	if _, err := ix2.CopyDays(ctx, ix, now); err != nil {
		t.Fatal(err)
	}
	days, err := ix2.Days(ctx, now, now)
	if err != nil || len(days) != 1 {
		t.Fatalf("the rebuild's day: %v (%v)", days, err)
	}
	want := expectedCounts(latest(half))[Stage]
	for _, st := range []nes.Stage{nes.Prospect, nes.New, nes.Active, nes.Dozing, nes.HalfAsleep, nes.DeepAsleep} {
		want[string(st)] += 0 // recorded, at 0
	}
	if !maps.Equal(days[0].Stages, want) {
		t.Errorf("the rebuild's day counts %v, want the stages of the 100 rebuilt %v", days[0].Stages, want)
	}
}

func counts(ctx context.Context, ix *Index) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, kind := range []string{Stage, Segment, Tier, Tag} {
		out[kind], _ = ix.Counts(ctx, kind)
	}
	return out
}

func changeMessage(t *testing.T, ch profile.Change) kafka.Message {
	ch.ID = fmt.Sprintf("%s-%d", ch.Customer, ch.At.UnixMilli())
	e, err := ch.Event("/profile-updater")
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.ToMessage(event.TopicProfiles, e)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIndexerIndexesTheProfilesTopicAndDropsErasedCustomers(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	changes := history(30)
	var msgs []kafka.Message
	for _, ch := range changes {
		msgs = append(msgs, changeMessage(t, ch))
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// c005 was erased after all their changes.
	reg := privacy.New(rdb)
	if err := reg.Record(ctx, "c005", t0.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	want := latest(changes)
	delete(want, "c005")

	run := func(group, prefix string, reached func(*Index) bool) *Index {
		ix := New(rdb, prefix)
		x := &Indexer{Brokers: k.Brokers, GroupID: group, Index: ix, Erasures: reg, Log: zap.NewNop()}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = x.Run(ctx) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if reached(ix) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the index did not reach the expected state", group)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return ix
	}
	ix := run("g1", "sf", func(ix *Index) bool {
		all, err := ix.Customers(ctx)
		return err == nil && len(all) == len(want)
	})
	checkCounts(t, ix, want)
	// Wait for the last changes to land (the count above is reached at each
	// customer's first change), then read the whole topic again from a new
	// group into another namespace: the same index.
	deadline := time.Now().Add(30 * time.Second)
	for !reflect.DeepEqual(counts(ctx, ix), expectedCounts(want)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	checkCounts(t, ix, want)
	first := sets(t, rdb, "sf")
	run("g2", "re", func(*Index) bool { return maps.Equal(sets(t, rdb, "re"), first) })
}

// TestRebuildIndexesThePublishedSnapshotsOnly commits a history of changes to
// the profiles of "sf2", whose index holds stale entries of customers gone
// since: the rebuilt index counts exactly the latest snapshots as of the
// rebuild, and of the changes indexed afterwards, a later one wins over the
// rebuilt entry and an earlier one is ignored.
func TestRebuildIndexesThePublishedSnapshotsOnly(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	store := profileStore(t, rdb, "sf2")
	ix := New(rdb, "sf")
	changes := publish(t, store, history(40))
	ix2 := ix.In("sf2")
	stale := profile.Change{Customer: "gone", At: t0, After: profile.Snapshot{Stage: nes.Dozing, Tier: "platinum", Tags: []string{"stale"}}}
	if err := ix2.Apply(ctx, []profile.Change{stale}); err != nil {
		t.Fatal(err)
	}

	now := t0.Add(300 * time.Hour)
	n, err := ix2.Rebuild(ctx, store, now)
	if err != nil || n != 40 {
		t.Fatalf("rebuilt %d customers (%v), want 40", n, err)
	}
	want := latest(changes)
	checkCounts(t, ix2, want)
	if got, _ := ix2.Customers(ctx); len(got) != 40 || slices.Contains(got, "gone") {
		t.Errorf("indexed customers %v, want the 40 of the history", got)
	}
	if c := counts(ctx, ix); len(c[Stage]) != 0 {
		t.Errorf("the index of sf got %v", c)
	}

	early := profile.Change{Customer: "c000", At: now.Add(-time.Hour), After: profile.Snapshot{Stage: nes.New, Segment: "general_retain", Tier: "gold"}}
	later := profile.Change{Customer: "c001", At: now.Add(time.Hour), After: profile.Snapshot{Stage: nes.New, Segment: "general_retain", Tier: "gold"}}
	if err := ix2.Apply(ctx, []profile.Change{early, later}); err != nil {
		t.Fatal(err)
	}
	want["c001"] = later.After
	checkCounts(t, ix2, want)
}

// TestCopyDaysKeepsTheNESRecordOfTheDaysBeforeTheRebuild indexes a history
// in "sf" and rebuilds "sf2" days later: copied, the record of sf2 is that of
// sf up to the day before the rebuild, and the rebuild's own on its day.
func TestCopyDaysKeepsTheNESRecordOfTheDaysBeforeTheRebuild(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	ix, ix2 := New(rdb, "sf"), New(rdb, "sf2")
	changes := history(40)
	if err := ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	store := profileStore(t, rdb, "sf2")
	rebuilt := publish(t, store, changes)
	now := t0.Add(300 * time.Hour)
	if _, err := ix2.Rebuild(ctx, store, now); err != nil {
		t.Fatal(err)
	}
	n, err := ix2.CopyDays(ctx, ix, now)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ix.Days(ctx, t0.AddDate(0, 0, -1), now)
	got, _ := ix2.Days(ctx, t0.AddDate(0, 0, -1), now)
	if n != len(old) || len(got) != len(old)+1 || !reflect.DeepEqual(got[:len(old)], old) {
		t.Fatalf("copied %d days; sf2 records %v, want sf's %v and the rebuild's day", n, got, old)
	}
	want := expectedCounts(latest(rebuilt))[Stage]
	for _, st := range []nes.Stage{nes.Prospect, nes.New, nes.Active, nes.Dozing, nes.HalfAsleep, nes.DeepAsleep} {
		want[string(st)] += 0 // recorded, at 0
	}
	if last := got[len(got)-1]; last.Date != now.Format(time.DateOnly) || !maps.Equal(last.Stages, want) {
		t.Errorf("the rebuild's day: %+v, want %s with the stages of the latest snapshots", last, now.Format(time.DateOnly))
	}
}

// TestChangesThatCanNeverBeIndexedAreDeadLetteredAndTheRestIndexed puts on
// the profiles topic a message that is no CloudEvent and a profile change
// whose data is not a change: each is dead-lettered with its reason (before,
// they were skipped with a log line and lost), and the changes after them
// are indexed.
func TestChangesThatCanNeverBeIndexedAreDeadLetteredAndTheRestIndexed(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	garbled, err := stream.ToMessage(event.TopicProfiles, testenv.Event("garbled", event.ProfileChanged, "c001", t0, `"not a change"`))
	if err != nil {
		t.Fatal(err)
	}
	good := history(3)
	msgs := []kafka.Message{{Topic: event.TopicProfiles, Key: []byte("c000"), Value: []byte("not a cloudevent")}, garbled}
	for _, ch := range good {
		msgs = append(msgs, changeMessage(t, ch))
	}
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	ix := New(rdb, "sf")
	x := &Indexer{Brokers: k.Brokers, GroupID: "g", Index: ix, DeadLetters: w, Log: zap.NewNop()}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	letters := k.ReadTopic(t, event.TopicInvalid, 2, 30*time.Second)
	reasons := map[string]int{}
	for _, m := range letters {
		ev, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		var d event.DeadLetter
		if err := json.Unmarshal(ev.Data(), &d); err != nil || ev.Source() != "/index" {
			t.Fatalf("dead letter from %s: %s", ev.Source(), ev.Data())
		}
		reasons[d.Reason]++
	}
	if len(letters) != 2 || reasons["undecodable"] != 2 {
		t.Errorf("dead letters by reason %v, want 2 undecodable", reasons)
	}
	want := latest(good)
	deadline := time.Now().Add(30 * time.Second)
	for !reflect.DeepEqual(counts(ctx, ix), expectedCounts(want)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	checkCounts(t, ix, want)
}

// profileStore is a profile store under prefix with the default rules.
func profileStore(t *testing.T, rdb redis.UniversalClient, prefix string) *profile.Store {
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return profile.New(rdb, profile.Config{Prefix: prefix, Rules: rules})
}

// publish gives each customer of changes a profile: an order of theirs
// for each change, at its time, spread back over the year before so that
// they reach several stages and segments. It commits the changes the store
// publishes, as the profile-updater does, and returns them: the rebuild
// reads what they published.
func publish(t *testing.T, store *profile.Store, changes []profile.Change) []profile.Change {
	t.Helper()
	ctx := context.Background()
	var ops []profile.Op
	for i, ch := range changes {
		at := ch.At.Add(-time.Duration(i%7) * 40 * 24 * time.Hour)
		data := fmt.Sprintf(`{"user_id":%q,"order_id":"o%d","total":"%d.00","currency":"USD"}`, ch.Customer, i, 10+i%5*40)
		op, err := profile.OpOf(testenv.Event(fmt.Sprintf("order-%d", i), event.OrderCompleted, ch.Customer, at, data), "USD")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	published, _, err := store.Apply(ctx, t0.Add(200*time.Hour), ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(ctx, published); err != nil {
		t.Fatal(err)
	}
	return published
}
