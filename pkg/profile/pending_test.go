package profile_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// changeIDs are the ids of changes, by customer, in order.
func changeIDs(changes []profile.Change) map[string][]string {
	out := map[string][]string{}
	for _, ch := range changes {
		out[ch.Customer] = append(out[ch.Customer], ch.ID)
	}
	return out
}

// lastChanged is the customer of the last of changes, and their snapshot
// after it.
func lastChanged(changes []profile.Change) (string, profile.Snapshot) {
	last := changes[len(changes)-1]
	return last.Customer, last.After
}

// viewOf is a view of the product sku by customer c.
func viewOf(t *testing.T, c, sku string) []profile.Op {
	return []profile.Op{ev(t, "view-"+sku, event.ProductViewed, c, day(39), `{"user_id":"`+c+`","product":{"sku":"`+sku+`","category":"new"}}`)}
}

// startFrom checks that c has changes and that each starts from after,
// the snapshot published last (why says by whom).
func startFrom(t *testing.T, changes []profile.Change, c string, after profile.Snapshot, why string) {
	t.Helper()
	if len(changes) == 0 {
		t.Fatalf("%s's view changed nothing", c)
	}
	for _, ch := range changes {
		if !reflect.DeepEqual(ch.Before, after) {
			t.Errorf("%s's change starts from %+v, want %+v (published by %s)", c, ch.Before, after, why)
		}
	}
}

// leaveOpen applies the first half of history as of T with s and commits
// it, then applies the second half, last, without committing, and returns
// last and its changes: a batch left open.
func leaveOpen(t *testing.T, s *profile.Store, T time.Time) (last []profile.Op, changes []profile.Change) {
	t.Helper()
	ops := history(t)
	applyCommit(t, s, T, ops[:len(ops)/2])
	last = ops[len(ops)/2:]
	changes, _, err := s.Apply(context.Background(), T, last)
	if err != nil || len(changes) == 0 {
		t.Fatalf("apply: %d changes, %v", len(changes), err)
	}
	return last, changes
}

// A writer that dies between a batch's write and its Commit (its changes may
// or may not have been published) leaves the batch to the next writer of
// the same events: it publishes the same changes with the same ids, from
// the snapshots the dead writer's outbox kept. Once a batch is committed,
// the same events publish nothing, and the next change starts from the
// snapshot that batch published.
func TestABatchNotCommittedIsPublishedAgainWithTheSameIDs(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	T := day(40)
	last, want := leaveOpen(t, newStore(t, rdb, "p"), T)
	// dead never commits. Another process, and then a third, apply the
	// same events: each publishes the batch's changes again.
	for _, name := range []string{"second", "third"} {
		s := newStore(t, rdb, "p")
		got, _, err := s.Apply(ctx, T, last)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b profile.Change) bool {
			return a.ID == b.ID && reflect.DeepEqual(a.Before, b.Before) && reflect.DeepEqual(a.After, b.After)
		}) {
			t.Fatalf("%s writer: changes %v, want %v (the uncommitted batch's)", name, changeIDs(got), changeIDs(want))
		}
		if name == "third" {
			if err := s.Commit(ctx, got); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Committed: the same events again publish nothing, in a writer that
	// knows the batch (the committing one's watermark) or in any other.
	s := newStore(t, rdb, "p")
	if again, _, err := s.Apply(ctx, T, last); err != nil || len(again) != 0 {
		t.Fatalf("after the commit: changes %v (%v), want none", changeIDs(again), err)
	}
	// The next change of a customer starts from what the batch published.
	c, after := lastChanged(want)
	s = newStore(t, rdb, "p")
	next, _, err := s.Apply(ctx, T, viewOf(t, c, "NEW-SKU"))
	if err == nil {
		err = s.Commit(ctx, next)
	}
	if err != nil {
		t.Fatal(err)
	}
	startFrom(t, next, c, after, "the committed batch")
	if keys := testenv.Keys(t, rdb, "p:{#outbox*"); len(keys) != 2 {
		t.Errorf("outboxes left: %v, want the two of the writers that never committed (they expire)", keys)
	}
}

// beforeWrite is a go-redis hook that calls fn once, before the first
// pipeline that writes a timer.
type beforeWrite struct {
	once sync.Once
	fn   func()
}

func (h *beforeWrite) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *beforeWrite) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *beforeWrite) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "zadd" || c.Name() == "zrem" {
				h.once.Do(h.fn)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// An evaluation that writes a customer's timer without writing their
// record (nothing but time moved) computed it from its read; another writer
// who applies an order of theirs meanwhile writes the timer of the newer
// state. The evaluation's timer must not undo it: the evaluation checks
// that the record is still the one it read, and runs again from a fresh
// read. Before, its timer was written last and stayed, stale.
func TestATimerComputedFromAStaleReadIsNotLeftBehind(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	first, second := order(t, "ann", "a1", day(1), "10"), order(t, "ann", "a2", day(20), "30")
	timer := func(prefix string) float64 {
		t.Helper()
		v, err := rdb.ZScore(ctx, keys.Shard(prefix, "timers", "ann")+":due", "ann").Result()
		if err != nil {
			t.Fatalf("%s: ann's timer: %v", prefix, err)
		}
		return v
	}
	// The reference: both orders, then an evaluation at T.
	T := day(25)
	ref := newStore(t, rdb, "ref")
	applyCommit(t, ref, day(2), []profile.Op{first})
	stale := timer("ref")
	applyCommit(t, ref, day(21), []profile.Op{second})
	if _, err := ref.Evaluate(ctx, T, []string{"ann"}); err != nil {
		t.Fatal(err)
	}
	want := timer("ref")

	race := newStore(t, rdb, "race")
	applyCommit(t, race, day(2), []profile.Op{first})
	if got := timer("race"); got != stale || got == want {
		t.Fatalf("ann's timer after the first order %v, want %v, and not the %v of both orders", got, stale, want)
	}
	// An evaluation at T by another process, whose write waits until the
	// second order is applied.
	hooked := srv.Client(t)
	hooked.AddHook(&beforeWrite{fn: func() {
		applyCommit(t, newStore(t, rdb, "race"), day(21), []profile.Op{second})
	}})
	if _, err := newStore(t, hooked, "race").Evaluate(ctx, T, []string{"ann"}); err != nil {
		t.Fatal(err)
	}
	if got := timer("race"); got != want {
		t.Errorf("ann's timer %v, want %v (of both orders; %v is the first's alone)", time.UnixMilli(int64(got)).UTC(), time.UnixMilli(int64(want)).UTC(), time.UnixMilli(int64(stale)).UTC())
	}
}

// A writer that read another's batch before that batch was committed (the
// other updater of a rebalance, still alive) asks again once it evaluates
// the customer: the batch may have been committed meanwhile, and its
// snapshot is then the one to change from.
func TestAnotherWritersBatchIsAskedAboutAgainUntilCommitted(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	T := day(40)
	a := newStore(t, rdb, "q")
	_, published := leaveOpen(t, a, T)
	c, after := lastChanged(published)
	// b reads c while a's batch is open, and keeps the record it writes.
	b := newStore(t, rdb, "q")
	if _, err := b.Write(ctx, T, viewOf(t, c, "SKU-B1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, published); err != nil {
		t.Fatal(err)
	}
	next, _, err := b.Apply(ctx, T, viewOf(t, c, "SKU-B2"))
	if err != nil {
		t.Fatal(err)
	}
	startFrom(t, next, c, after, "the batch committed meanwhile")
}
