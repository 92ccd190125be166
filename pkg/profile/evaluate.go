package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// evaluate records the latest state of each customer in the population,
// scores every state against it, schedules the customers' next time-driven
// change, writes b's records with their population entries and the timers,
// and returns the snapshot changes in order. The population is recorded for
// all customers first, so every state is scored against the same
// population. Customers in left (merged into another in this batch) are
// scored but leave the population and the timers.
func (s *Store) evaluate(ctx context.Context, b *batch, T time.Time, states []*State, causes []Cause, left map[string]bool) ([]Change, []Snapshot, error) {
	pop, err := s.Population(ctx)
	if err != nil {
		return nil, nil, err
	}
	latest := map[string]*State{}
	var order []string
	var gone []string
	for _, st := range states {
		if st.MergedInto != "" || left[st.Customer] {
			gone = append(gone, st.Customer) // no longer a customer of its own
			continue
		}
		if _, ok := latest[st.Customer]; !ok {
			order = append(order, st.Customer)
		}
		latest[st.Customer] = st
	}
	for _, c := range gone {
		pop.Remove(c)
	}
	for _, c := range order {
		e := entryOf(latest[c], T)
		pop.Put(c, e)
		// A customer without a record (erased meanwhile, or never seen) gets
		// none from an evaluation. An entry that only moved in time (a timer
		// that changed no value) is not worth a write of its own: it goes
		// with the record's next one.
		r := b.recs[c]
		if (r.stored || b.dirty[c]) && (r.entry == nil || e.Newer(*r.entry)) {
			moved := r.entry == nil || e.Version != r.entry.Version || e.F != r.entry.F || e.M != r.entry.M || e.Last != r.entry.Last
			r.entry = &e
			if moved {
				b.dirty[c] = true
			}
		}
	}
	// One round trip writes the records and schedules the customers' next
	// time-driven change.
	err = b.write(ctx, func(pipe redis.Pipeliner) {
		for _, c := range gone {
			pipe.ZRem(ctx, s.timerKey(c), c)
		}
		for _, c := range order {
			if due, ok := s.nextDue(latest[c], T); ok {
				pipe.ZAdd(ctx, s.timerKey(c), redis.Z{Score: float64(due.UnixMilli()), Member: c})
			} else {
				pipe.ZRem(ctx, s.timerKey(c), c)
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}

	sc := pop.Scorer(T)
	snaps := make([]Snapshot, len(states))
	current := map[string]Snapshot{}
	var changes []Change
	for i, st := range states {
		if st.MergedInto != "" {
			continue
		}
		after, err := s.snapshot(st, &sc, T)
		if err != nil {
			return nil, nil, fmt.Errorf("customer rules: %w", err)
		}
		snaps[i] = after
		before, ok := current[st.Customer]
		if !ok {
			before = st.published
		}
		current[st.Customer] = after
		if before.key() == after.key() {
			continue
		}
		changes = append(changes, newChange(st.Customer, T, before, after, causes[i]))
	}
	return changes, snaps, nil
}
