package profile

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/segflow/segflow/pkg/population"
)

// evaluate records the latest state of each customer in the population,
// scores every state against it, schedules the customers' next time-driven
// change, writes b's records with their population entries and the timers,
// and returns the snapshot changes in order. The population is recorded for
// all customers first, so every state is scored against the same
// population. A batch that stages (b.stage) records the snapshots of its
// changes in the records, to be committed once published (pending.go).
// Customers in left (merged into another in this batch) are scored but
// leave the population and the timers.
//
// The customers are taken in parts (partSize): a part's records and timers
// are sent to Redis as soon as its snapshots are computed, and the next
// part's are computed meanwhile.
func (s *Store) evaluate(ctx context.Context, b *batch, T time.Time, states []*State, causes []Cause, left map[string]bool) ([]Change, []Snapshot, error) {
	pop, e, err := s.enter(ctx, b, T, states, left)
	if err != nil {
		return nil, nil, err
	}
	sc := pop.Scorer(T)
	gone := make(map[string]bool, len(e.gone))
	for _, c := range e.gone {
		gone[c] = true
	}
	parts := partsOf(states, partSize())
	snaps := make([]Snapshot, len(states))
	changes := make([]Change, 0, len(states))
	at := make([]int, 0, len(states)) // of each change, the index of its state
	var flushes []*flush
	sent := make(chan error, len(parts)+1)
	flushed := make(map[string]bool, len(states))
	for _, part := range parts {
		if err = s.snapshots(states, part.idx, &sc, T, snaps); err != nil {
			break
		}
		// The part's changes: all the states of a customer are in one part.
		current := make(map[string]*Snapshot, len(part.idx))
		start := len(changes)
		for _, i := range part.idx {
			st := states[i]
			if st.MergedInto != "" {
				continue
			}
			after := &snaps[i]
			before, ok := current[st.Customer]
			if !ok {
				before = &st.published
			}
			current[st.Customer] = after
			if !before.same(*after) {
				changes, at = append(changes, newChange(st.Customer, T, *before, *after, causes[i])), append(at, i)
			}
		}
		if b.stage {
			if err = s.stage(ctx, b, changes[start:], current); err != nil {
				break
			}
			for j := start; j < len(changes); j++ {
				changes[j].batch = b.mark
			}
		}
		f := &flush{outbox: make([]outboxEntry, 0, len(changes)-start), timers: make([]customerTimer, 0, len(part.customers))}
		for _, c := range part.customers {
			if b.dirty[c] {
				f.dirty = append(f.dirty, c)
			}
			flushed[c] = true
			if p, ok := b.outbox[c]; ok {
				f.outbox = append(f.outbox, outboxEntry{c, p})
			}
			if t, ok := s.timer(b, c, gone[c], e.latest[c], T); ok {
				f.timers = append(f.timers, customerTimer{c, t})
			}
		}
		flushes = append(flushes, f)
		go func() { sent <- b.send(ctx, f) }()
	}
	if err == nil { // the records no state of the batch is of (a profile merged)
		f := &flush{}
		for c := range b.dirty {
			if !flushed[c] {
				f.dirty = append(f.dirty, c)
			}
		}
		if len(f.dirty) > 0 {
			flushes = append(flushes, f)
			go func() { sent <- b.send(ctx, f) }()
		}
	}
	// The changes' ids are hashed while the last parts are written.
	for i := range changes {
		changes[i].identify()
	}
	for range flushes {
		if serr := <-sent; err == nil {
			err = serr
		}
	}
	if err := b.finish(err, flushes...); err != nil {
		return nil, nil, err
	}
	return inOrder(changes, at), snaps, nil
}

// inOrder returns changes in the order of at, the indexes of their states:
// a customer's later state may follow another customer's in the batch, and
// is in the part of their first.
func inOrder(changes []Change, at []int) []Change {
	if slices.IsSorted(at) {
		return changes
	}
	order := make([]int, len(changes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return at[x] - at[y] })
	out := make([]Change, len(changes))
	for i, j := range order {
		out[i] = changes[j]
	}
	return out
}

// partSize is how many customers a part of evaluate holds: parallelAbove
// for each core but one, which encodes and sends the part before while
// the others compute the snapshots. On 2 cores, BenchmarkApply is fastest
// at 32 (16, 64, 128 and 256 were 2–15% slower; one part of every customer
// 15% slower).
func partSize() int { return parallelAbove * max(1, runtime.GOMAXPROCS(0)-1) }

// A part is the indexes of some states (idx, in order) and their
// customers, in order of their first state.
type part struct {
	idx       []int
	customers []string
}

// partsOf splits the indexes of states into parts of up to size customers
// (and a last one of up to twice that), in order of their first state, with
// all the states of a customer in the part of their first.
func partsOf(states []*State, size int) []part {
	partOf := make(map[string]int, len(states))
	var parts []part
	for i, st := range states {
		k, ok := partOf[st.Customer]
		if !ok {
			if n := len(parts); n == 0 || len(parts[n-1].customers) == size && len(states)-i > size {
				parts = append(parts, part{})
			}
			k = len(parts) - 1
			partOf[st.Customer] = k
			parts[k].customers = append(parts[k].customers, st.Customer)
		}
		parts[k].idx = append(parts[k].idx, i)
	}
	return parts
}

// stage records in b's records the snapshots changes publish, as b's batch
// (which takes its mark, b.mark, at its first change), with the snapshots they replace in the batch's
// outbox (pending.go). A customer evaluated without a change (their snapshot
// now, in current, is the one last published), whose record holds a batch
// not committed, is written back to the snapshot last published.
func (s *Store) stage(ctx context.Context, b *batch, changes []Change, current map[string]*Snapshot) error {
	for c := range current {
		if r := b.recs[c]; r.open && (r.stored || b.dirty[c]) {
			p := r.lastPublished()
			r.published, r.pend, r.open = &p, pendMark{}, false
			r.changed(secPub)
			b.dirty[c] = true
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if b.mark == (pendMark{}) {
		m, err := s.begin(ctx)
		if err != nil {
			return err
		}
		b.mark, b.outbox = m, make(map[string]outboxPrev, len(b.recs)) // room for every change of the batch
	}
	for i := range changes {
		c := changes[i].Customer
		if _, ok := b.outbox[c]; ok {
			continue
		}
		// A customer without a record (erased meanwhile) gets none.
		if r := b.recs[c]; r.stored || b.dirty[c] {
			// Before is the snapshot published: while it is not open, the
			// one the record holds, whose encoding the outbox copies.
			o := outboxPrev{snap: changes[i].Before}
			if !r.open {
				o.enc, _ = r.publishedEncoding()
			}
			b.outbox[c] = o
			after := *current[c]
			r.prev, r.open, r.published, r.pend = changes[i].Before, true, &after, b.mark
			r.changed(secPub)
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

// timer returns the timer of customer c, gone from the population or of
// state st as of T, for a batch to write, and false if the batch need not
// write it: in a batch of events, a timer this writer wrote last as it is
// now is not written again, as most events (a view, a cart line) do not
// move it. A timer another path moved meanwhile (earlier: a refit's
// Reschedule) falls due, and its evaluation, which is no batch of events,
// writes it again.
func (s *Store) timer(b *batch, c string, gone bool, st *State, T time.Time) (timerWritten, bool) {
	t := timerWritten{known: true}
	if gone {
		return t, true
	}
	if st == nil {
		return t, false
	}
	if due, ok := s.nextDue(st, T); ok {
		t.set, t.due = true, due.UnixMilli()
		s.soonest.scheduled(c, t.due)
	}
	if r := b.recs[c]; r != nil && !b.rewrite && r.timer == t {
		return t, false
	}
	return t, true
}

// parallelAbove is the number of states above which snapshots are computed
// on every core: below it, starting goroutines costs more than it saves.
const parallelAbove = 32

// snapshots computes the snapshots of the states of states at idx (none for
// a merged one) with sc into out, on every core. Rules are the bulk of an
// evaluation's work.
func (s *Store) snapshots(states []*State, idx []int, sc *population.Scorer, T time.Time, out []Snapshot) error {
	each := func(lo, hi int) error {
		for _, i := range idx[lo:hi] {
			if states[i].MergedInto != "" {
				continue
			}
			snap, err := s.snapshot(states[i], sc, T)
			if err != nil {
				return fmt.Errorf("customer rules: %w", err)
			}
			out[i] = snap
		}
		return nil
	}
	if len(idx) <= parallelAbove {
		return each(0, len(idx))
	}
	var g errgroup.Group
	chunk := (len(idx) + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for lo := 0; lo < len(idx); lo += chunk {
		g.Go(func() error { return each(lo, min(lo+chunk, len(idx))) })
	}
	return g.Wait()
}
