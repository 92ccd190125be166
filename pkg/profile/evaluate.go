package profile

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/segflow/segflow/pkg/population"
)

// evaluate records the latest state of each customer in the population,
// scores every state against it, schedules the customers' next time-driven
// change, writes b's records with their population entries and the timers,
// and returns the snapshot changes in order. The population is recorded for
// all customers first, so every state is scored against the same
// population. A batch that stages (b.stage) records the snapshots of its
// changes in the records, to be committed once published (pending.go). Customers in left (merged into another in this batch) are
// scored but leave the population and the timers.
func (s *Store) evaluate(ctx context.Context, b *batch, T time.Time, states []*State, causes []Cause, left map[string]bool) ([]Change, []Snapshot, error) {
	pop, e, err := s.enter(ctx, b, T, states, left)
	if err != nil {
		return nil, nil, err
	}
	snaps, err := s.snapshots(states, pop.Scorer(T), T)
	if err != nil {
		return nil, nil, err
	}
	current := make(map[string]Snapshot, len(states))
	changes := make([]Change, 0, len(states))
	for i, st := range states {
		if st.MergedInto != "" {
			continue
		}
		after := snaps[i]
		before, ok := current[st.Customer]
		if !ok {
			before = st.published
		}
		current[st.Customer] = after
		if before.same(after) {
			continue
		}
		changes = append(changes, newChange(st.Customer, T, before, after, causes[i]))
	}
	if b.stage {
		if err := s.stage(ctx, b, changes, current); err != nil {
			return nil, nil, err
		}
	}
	// One round trip writes the records, the batch's outbox and the
	// customers' next time-driven change.
	if err := s.write(ctx, b, T, e); err != nil {
		return nil, nil, err
	}
	return changes, snaps, nil
}

// stage records in b's records the snapshots changes publish, as b's batch
// (which takes its mark), with the snapshots they replace in the batch's
// outbox (pending.go). A customer evaluated without a change (their snapshot
// now, in current, is the one last published), whose record holds a batch
// not committed, is written back to the snapshot last published.
func (s *Store) stage(ctx context.Context, b *batch, changes []Change, current map[string]Snapshot) error {
	for c := range current {
		if r := b.recs[c]; r.open && (r.stored || b.dirty[c]) {
			p := r.lastPublished()
			r.published, r.pend, r.open = &p, pendMark{}, false
			b.dirty[c] = true
		}
	}
	if len(changes) == 0 {
		return nil
	}
	m, err := s.begin(ctx)
	if err != nil {
		return err
	}
	b.mark, b.outbox = m, make(map[string]Snapshot, len(changes))
	for i := range changes {
		c := changes[i].Customer
		changes[i].batch = m
		if _, ok := b.outbox[c]; ok {
			continue
		}
		// A customer without a record (erased meanwhile) gets none.
		if r := b.recs[c]; r.stored || b.dirty[c] {
			b.outbox[c] = changes[i].Before
			after := current[c]
			r.prev, r.open, r.published, r.pend = changes[i].Before, true, &after, m
			b.dirty[c] = true
		}
	}
	return nil
}

// entered is what enter recorded: the latest state of each customer, in
// order of first appearance, and the customers who left the population.
type entered struct {
	latest map[string]*State
	order  []string
	gone   []string
}

// enter records the latest state of each customer of states in the
// population as of T, and in b's records where it moved, and returns the
// population. Customers merged into another, or in left, leave it.
func (s *Store) enter(ctx context.Context, b *batch, T time.Time, states []*State, left map[string]bool) (*population.Set, entered, error) {
	pop, err := s.Population(ctx)
	if err != nil {
		return nil, entered{}, err
	}
	e := entered{latest: make(map[string]*State, len(states))}
	for _, st := range states {
		if st.MergedInto != "" || left[st.Customer] {
			e.gone = append(e.gone, st.Customer) // no longer a customer of its own
			continue
		}
		if _, ok := e.latest[st.Customer]; !ok {
			e.order = append(e.order, st.Customer)
		}
		e.latest[st.Customer] = st
	}
	for _, c := range e.gone {
		pop.Remove(c)
	}
	for _, c := range e.order {
		entry := entryOf(e.latest[c], T)
		pop.Put(c, entry)
		// A customer without a record (erased meanwhile, or never seen) gets
		// none from an evaluation. An entry that only moved in time (a timer
		// that changed no value) is not worth a write of its own: it goes
		// with the record's next one.
		r := b.recs[c]
		if (r.stored || b.dirty[c]) && (r.entry == nil || entry.Newer(*r.entry)) {
			moved := r.entry == nil || entry.Version != r.entry.Version || entry.F != r.entry.F || entry.M != r.entry.M || entry.Last != r.entry.Last
			r.entry = &entry
			if moved {
				b.dirty[c] = true
			}
		}
	}
	return pop, e, nil
}

// write writes b's records and schedules the next time-driven change of
// the customers entered, in one round trip. In a batch of events, a timer
// this writer wrote last as it is now is not written again: most events (a
// view, a cart line) do not move it. A timer another path moved meanwhile
// (earlier: a refit's Reschedule) falls due, and its evaluation, which is no
// batch of events, writes it again.
func (s *Store) write(ctx context.Context, b *batch, T time.Time, e entered) error {
	return b.write(ctx, func(pipe redis.Pipeliner) {
		for _, c := range e.gone {
			pipe.ZRem(ctx, s.timerKey(c), c)
			b.timers[c] = timerWritten{known: true}
		}
		for _, c := range e.order {
			t := timerWritten{known: true}
			if due, ok := s.nextDue(e.latest[c], T); ok {
				t.set, t.due = true, due.UnixMilli()
				s.soonest.scheduled(c, t.due)
			}
			if r := b.recs[c]; r != nil && !b.rewrite && r.timer == t {
				continue
			}
			if t.set {
				pipe.ZAdd(ctx, s.timerKey(c), redis.Z{Score: float64(t.due), Member: c})
			} else {
				pipe.ZRem(ctx, s.timerKey(c), c)
			}
			b.timers[c] = t
		}
	})
}

// parallelAbove is the number of states above which snapshots are computed
// on every core: below it, starting goroutines costs more than it saves.
const parallelAbove = 32

// snapshots computes the snapshots of states (none for a merged one) with
// sc, on every core. Rules are the bulk of an evaluation's work.
func (s *Store) snapshots(states []*State, sc population.Scorer, T time.Time) ([]Snapshot, error) {
	snaps := make([]Snapshot, len(states))
	each := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if states[i].MergedInto != "" {
				continue
			}
			snap, err := s.snapshot(states[i], &sc, T)
			if err != nil {
				return fmt.Errorf("customer rules: %w", err)
			}
			snaps[i] = snap
		}
		return nil
	}
	if len(states) <= parallelAbove {
		return snaps, each(0, len(states))
	}
	var g errgroup.Group
	chunk := (len(states) + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for lo := 0; lo < len(states); lo += chunk {
		g.Go(func() error { return each(lo, min(lo+chunk, len(states))) })
	}
	return snaps, g.Wait()
}
