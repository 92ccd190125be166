package profile

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/population"
)

// How a batch reaches Redis. The records a call works on are loaded once
// (from the store's cache of records it wrote last, else one pipeline of
// GETs), changed in Go, and written back with the timers, in one pipeline
// or (evaluate) one per part, by a compare-and-set script (casScript),
// which writes records only if they are still of the generation they were
// read at: on one server one call writes all of a part's records, on a
// cluster one call writes each (a script's keys share a slot). A record
// someone else wrote meanwhile (another updater during a rebalance, the read
// API's consent, an erasure) fails the write: the call drops what it holds
// and runs again from fresh reads. That is safe because every change is a
// join: records written before the conflict take the same events again
// without effect.

// casScript writes records if every key it is given is of its expected
// generation. KEYS: the records to write, then records to check alone.
// ARGV: the expected generation of each key (its first 8 bytes; empty: no
// record), then the new records of the keys to write, in order. Returns 1
// if it wrote them, 0 if a key is of another generation (and it wrote
// none).
var casScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('GETRANGE', KEYS[i], 0, 7) ~= ARGV[i] then return 0 end
end
for i = 1, #ARGV - #KEYS do
  redis.call('SET', KEYS[i], ARGV[#KEYS + i])
end
return 1
`)

// errConflict: a record was written by someone else since it was read.
var errConflict = errors.New("profile record written concurrently")

// maxCASKeys bounds the keys of one call of casScript, so that a batch of
// thousands of records (a bulk write) does not hold the server in one
// script for long.
const maxCASKeys = 256

// maxAttempts bounds the runs of a call that keeps meeting conflicts.
const maxAttempts = 20

// cache keeps the records a store wrote last, up to a bound: the customers
// of a writer's own partitions, whose records nobody else writes in steady
// operation, are then neither read nor decoded again. A record is taken out
// while a call works on it, so calls never share one.
type cache struct {
	mu   sync.Mutex
	max  int
	recs map[string]*record
}

func (c *cache) take(id string) *record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.recs[id]
	if ok {
		delete(c.recs, id)
	}
	return r
}

// peek calls fn with the cached record of id, if there is one, and tells
// whether there was. fn must not keep it, nor change it but for what it
// derives from its fields (record.derived).
func (c *cache) peek(id string, fn func(*record)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.recs[id]
	if ok {
		fn(r)
	}
	return ok
}

func (c *cache) put(id string, r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs == nil {
		c.recs = map[string]*record{}
	}
	if len(c.recs) >= c.max {
		for k := range c.recs { // evict one at random
			delete(c.recs, k)
			break
		}
	}
	c.recs[id] = r
}

// batch is the records one call works on.
type batch struct {
	s     *Store
	recs  map[string]*record
	dirty map[string]bool
	// rewrite: every timer is written, even one the writer wrote as it is
	// (a batch of customers whose timer fell due, or of everyone: another
	// path, a refit's Reschedule, may have moved theirs)
	rewrite bool
	// stage: the snapshots of the batch's changes are recorded, to be
	// committed (pending.go); the batch's mark and outbox, if it has
	// changes
	stage  bool
	mark   pendMark
	outbox map[string]outboxPrev
}

// outboxPrev is a customer's outbox entry: the snapshot last published,
// and its encoding (appendSnapshot's) if the record held it (else nil).
type outboxPrev struct {
	snap Snapshot
	enc  []byte
}

// newBatch returns a batch of about n customers' records.
func (s *Store) newBatch(n int) *batch {
	return &batch{s: s, recs: make(map[string]*record, n), dirty: make(map[string]bool, n)}
}

// load brings the records of customers into b, and those they were merged
// into, from the cache or Redis.
func (b *batch) load(ctx context.Context, customers ...string) error {
	for range 4 { // a merged profile's target, its own target: never deeper in practice
		var missing []string
		for _, c := range customers {
			if _, ok := b.recs[c]; ok {
				continue
			}
			if r := b.s.records.take(c); r != nil {
				b.recs[c] = r
				continue
			}
			missing = append(missing, c)
		}
		recs, err := b.s.fetch(ctx, missing)
		if err != nil {
			return err
		}
		for i, c := range missing {
			b.recs[c] = recs[i]
		}
		customers = customers[:0:0]
		for _, r := range b.recs {
			if r.mergedInto != "" {
				if _, ok := b.recs[r.mergedInto]; !ok {
					customers = append(customers, r.mergedInto)
				}
			}
		}
		if len(customers) == 0 {
			break
		}
	}
	ids := make([]string, 0, len(b.recs))
	recs := make([]*record, 0, len(b.recs))
	for c, r := range b.recs {
		ids, recs = append(ids, c), append(recs, r)
	}
	return b.s.resolve(ctx, ids, recs)
}

// fetch reads and decodes the records of customers (new, empty ones for
// customers without one).
func (s *Store) fetch(ctx context.Context, customers []string) ([]*record, error) {
	recs, errs, err := s.fetchEach(ctx, customers)
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		return nil, fmt.Errorf("read %d profiles: %w", len(customers), err)
	}
	return recs, nil
}

// fetchEach is fetch with an error per customer whose key Redis refuses to
// read (a key of another type) or that holds no record; err is for the
// round trip.
func (s *Store) fetchEach(ctx context.Context, customers []string) ([]*record, []error, error) {
	if len(customers) == 0 {
		return nil, nil, nil
	}
	cmds := make([]*redis.StringCmd, len(customers))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range customers {
			cmds[i] = pipe.Get(ctx, s.recordKey(c))
		}
		return nil
	})
	var refused redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &refused) {
		return nil, nil, err
	}
	recs := make([]*record, len(customers))
	errs := make([]error, len(customers))
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			vs, err := cmds[i].Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				errs[i] = err
				continue
			}
			v := []byte(vs)
			if recs[i], errs[i] = decodeRecordOf(v, vs); errs[i] == nil && len(v) > 0 {
				recs[i].stored = true
			}
		}
	}
	onEveryCore(len(cmds), decode)
	return recs, errs, nil
}

// onEveryCore calls fn for ranges [lo, hi) that cover [0, n), one range
// per core at once, or the whole range at once for n up to parallelAbove.
func onEveryCore(n int, fn func(lo, hi int)) {
	cores := runtime.GOMAXPROCS(0)
	if n <= parallelAbove || cores == 1 {
		fn(0, n)
		return
	}
	chunk := (n + cores - 1) / cores
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}

// target is the customer whose record op's events land in at the end: the
// profile c was merged into, if it was.
func (b *batch) target(c string) string {
	for range 4 {
		r := b.recs[c]
		if r == nil || r.mergedInto == "" || r.mergedInto == c {
			return c
		}
		c = r.mergedInto
	}
	return c
}

// apply applies op to its customer's record and, if that profile was
// merged into another, to the other's too (so events still arriving for a
// merged visitor reach the customer). It tells whether the record op landed
// in changed, and which customer that is; the caller marks both records
// dirty if op is an event (Kind not opNone).
func (b *batch) apply(op Op, T time.Time) (bool, string, error) {
	t := op.Time
	if t.IsZero() {
		t = T
	}
	c := op.Customer
	changed, err := b.recs[c].apply(op, t.UnixMilli())
	if err != nil {
		return false, c, fmt.Errorf("apply event %s: %w", op.CauseID, err)
	}
	if into := b.target(c); into != c {
		if changed, err = b.recs[into].apply(op, t.UnixMilli()); err != nil {
			return false, into, fmt.Errorf("apply event %s: %w", op.CauseID, err)
		}
		c = into
	}
	return changed, c, nil
}

// merge joins the profile op.Merge (an anonymous visitor) into op.Customer
// and marks it merged, so that events still arriving for it are forwarded;
// it leaves the population (its entry is dropped).
func (b *batch) merge(op Op) {
	src, into := b.recs[op.Merge], b.target(op.Customer)
	b.recs[into].join(src, op.Merge)
	src.mergedInto, src.entry = op.Customer, nil
	b.dirty[op.Merge], b.dirty[into] = true, true
}

// A flush is writes of a batch sent together: records, outbox entries and
// timers, in one pipeline (two on a cluster). A batch is written in one
// flush, or (evaluate) in several sent while it computes the next.
type flush struct {
	dirty  []string        // the records to write
	outbox []outboxEntry   // the batch's outbox entries to write
	timers []customerTimer // the timers to write

	ws     []written
	checks []check
	cas    []*redis.Cmd // on one server, the calls of casScript that write ws and check checks
}

// outboxEntry is a customer's outbox entry.
type outboxEntry struct {
	customer string
	prev     outboxPrev
}

// customerTimer is a customer's timer.
type customerTimer struct {
	customer string
	t        timerWritten
}

// written is a record a flush writes; cmd is its own call of casScript, on
// a cluster.
type written struct {
	r     *record
	value []byte
	cmd   *redis.Cmd
}

// check is of the generation of a record whose timer a flush writes and
// which it does not write, on a cluster.
type check struct {
	expect string
	cmd    *redis.StringCmd
}

// write writes the dirty records in one flush, and ends the batch (finish):
// for a batch that evaluates no one (evaluate writes its own flushes).
func (b *batch) write(ctx context.Context) error {
	f := &flush{}
	for c := range b.dirty {
		f.dirty = append(f.dirty, c)
	}
	slices.Sort(f.dirty) // the same calls of casScript for the same batch
	return b.finish(b.send(ctx, f), f)
}

// send sends f. Before the records go the outbox, which readers of the
// records may need, and the timers: a writer who writes a customer's record
// after this batch read it then fails the batch's compare-and-set, or its
// check of the generation of a record it does not write, and the batch
// runs again from fresh reads, writing the timers again (retry). A timer
// written after the record could undo a timer another writer wrote
// meanwhile from fresher state. One server runs a connection's commands in
// order, so they go in the same pipeline; a cluster sends each node its
// commands at once, so they go in a round trip before it.
func (b *batch) send(ctx context.Context, f *flush) error {
	first := func(pipe redis.Pipeliner) {
		if len(f.outbox) > 0 {
			k := b.s.outboxKey(b.mark)
			args := make([]any, 0, 2*len(f.outbox))
			for _, o := range f.outbox {
				args = append(args, o.customer, o.prev.encode())
			}
			pipe.HSet(ctx, k, args...)
			pipe.Expire(ctx, k, outboxTTL)
		}
		for _, t := range f.timers {
			if c := t.customer; t.t.set {
				pipe.ZAdd(ctx, b.s.timerKey(c), redis.Z{Score: float64(t.t.due), Member: c})
			} else {
				pipe.ZRem(ctx, b.s.timerKey(c), c)
			}
		}
	}
	_, cluster := b.s.rdb.(*redis.ClusterClient)
	if cluster && len(f.outbox)+len(f.timers) > 0 {
		if _, err := b.s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error { first(pipe); return nil }); err != nil {
			return fmt.Errorf("write a batch's outbox and timers: %w", err)
		}
	}
	err := b.s.pipelined(ctx, func(pipe redis.Pipeliner) {
		f.ws, f.checks, f.cas = f.ws[:0], f.checks[:0], f.cas[:0]
		if !cluster {
			first(pipe)
		}
		cas := make(map[string]bool, len(f.dirty))
		// A call's keys, and its arguments: the generations, then the
		// values, appended to the generations when it is made.
		var keys []string
		var gens, values []any
		left := len(f.dirty) + len(f.timers) // keys at most still to come
		add := func(key string, gen, value any) {
			if keys == nil {
				n := min(left, maxCASKeys)
				keys, gens, values = make([]string, 0, n), make([]any, 0, 2*n), make([]any, 0, n)
			}
			keys, gens, left = append(keys, key), append(gens, gen), left-1
			if value != nil {
				values = append(values, value)
			}
		}
		call := func() { // a call of casScript for the keys so far
			if len(keys) > 0 {
				f.cas = append(f.cas, casScript.EvalSha(ctx, pipe, keys, append(gens, values...)...))
				keys, gens, values = nil, nil, nil
			}
		}
		if cap(f.ws) < len(f.dirty) {
			f.ws = make([]written, 0, len(f.dirty))
		}
		for _, c := range f.dirty {
			r := b.recs[c]
			if !r.open {
				r.pend = pendMark{} // committed: the mark is needed no more
			}
			value := r.encode(r.gen + 1)
			if r.stored && bytes.Equal(value[8:], r.orig) {
				r.written(r.orig) // the sections are where they were
				continue          // a redelivery: nothing changed
			}
			cas[c] = true
			w := written{r: r, value: value}
			if cluster {
				w.cmd = casScript.EvalSha(ctx, pipe, []string{b.s.recordKey(c)}, generation(r), value)
			} else {
				add(b.s.recordKey(c), generation(r), value)
				if len(keys) == maxCASKeys {
					call()
				}
			}
			f.ws = append(f.ws, w)
		}
		call()
		for _, t := range f.timers {
			if r := b.recs[t.customer]; r != nil && !cas[t.customer] {
				if cluster {
					f.checks = append(f.checks, check{generation(r), pipe.GetRange(ctx, b.s.recordKey(t.customer), 0, 7)})
				} else {
					add(b.s.recordKey(t.customer), generation(r), nil)
				}
			}
		}
		call()
	})
	if err != nil {
		return fmt.Errorf("write %d profiles: %w", len(f.dirty), err)
	}
	return nil
}

// finish ends a batch whose flushes were sent (err: the first error of
// their sends). A record written is of the next generation. A failure or a
// conflict (a compare-and-set or a check failed) drops the batch whole, so
// its records need no undoing, and returns the error or errConflict;
// else the records go to the cache, with the timers written.
func (b *batch) finish(err error, fs ...*flush) error {
	conflict := false
	for _, f := range fs {
		for _, ch := range f.checks {
			conflict = conflict || ch.cmd.Val() != ch.expect
		}
		for _, cmd := range f.cas {
			n, _ := cmd.Int()
			conflict = conflict || n != 1
		}
		for _, w := range f.ws {
			if w.cmd != nil {
				n, _ := w.cmd.Int()
				conflict = conflict || n != 1
			}
		}
	}
	if err == nil && conflict {
		err = errConflict
	}
	if err != nil {
		if b.mark != (pendMark{}) {
			b.s.abandon(b.mark)
		}
		return err
	}
	for _, f := range fs {
		for _, w := range f.ws {
			w.r.gen, w.r.stored = w.r.gen+1, true
			w.r.written(w.value[8:])
		}
		for _, t := range f.timers {
			if r := b.recs[t.customer]; r != nil {
				r.timer = t.t
			}
		}
	}
	for c, r := range b.recs {
		b.s.records.put(c, r)
	}
	return nil
}

// generation is what the first 8 bytes of r's key hold if nobody wrote it
// since it was read: its generation, or nothing for a record not stored.
func generation(r *record) string {
	if !r.stored {
		return ""
	}
	return string(binary.BigEndian.AppendUint64(nil, r.gen))
}

// pipelined runs fn's commands in one pipeline. Scripts in a pipeline run by
// hash; if Redis does not know them (a new or restarted server) they are
// loaded and the pipeline runs again, which is safe because casScript
// writes nothing the second time that it wrote the first.
func (s *Store) pipelined(ctx context.Context, fn func(redis.Pipeliner)) error {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		fn(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil || attempt > 0 || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		if err := casScript.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load scripts: %w", err)
		}
	}
}

// retry runs fn until it does not meet a conflict; again is true after
// one, when fn writes every timer it evaluates (batch.rewrite): its run that
// met the conflict may have written some from stale reads.
func retry[T any](fn func(again bool) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		out, err := fn(attempt > 1)
		if !errors.Is(err, errConflict) || attempt == maxAttempts {
			return out, err
		}
	}
}

// Apply applies ops, in order, as of T and returns the profile changes they
// cause and how many orders and refunds were already applied (duplicates).
// Customers' population entries and timers are updated too. The caller
// publishes the changes and then calls Commit; applying the same ops again
// (after a crash before Commit) returns the same changes with the same ids.
func (s *Store) Apply(ctx context.Context, T time.Time, ops []Op) ([]Change, int, error) {
	if len(ops) == 0 {
		return nil, 0, nil
	}
	type result struct {
		changes []Change
		dups    int
	}
	res, err := retry(func(again bool) (result, error) {
		changes, dups, err := s.apply(ctx, T, ops, true, again)
		return result{changes, dups}, err
	})
	return res.changes, res.dups, err
}

// Write applies ops as of T without evaluating anyone: no snapshots, no
// population, no timers. A bulk backfill can write all events and then
// evaluate the customers once. It returns how many orders and refunds were
// already applied.
func (s *Store) Write(ctx context.Context, T time.Time, ops []Op) (int, error) {
	if len(ops) == 0 {
		return 0, nil
	}
	return retry(func(bool) (int, error) {
		_, dups, err := s.apply(ctx, T, ops, false, false)
		return dups, err
	})
}

// apply is one run of Apply (evaluate) or Write; again: a run after a
// conflict.
func (s *Store) apply(ctx context.Context, T time.Time, ops []Op, evaluate, again bool) ([]Change, int, error) {
	b := s.newBatch(len(ops))
	b.rewrite = again
	ids := make([]string, 0, len(ops))
	for _, op := range ops {
		ids = append(ids, op.Customer)
		if op.Merge != "" {
			ids = append(ids, op.Merge)
		}
	}
	b.stage = evaluate
	if err := b.load(ctx, ids...); err != nil {
		return nil, 0, err
	}
	states := make([]*State, len(ops))
	applied := make([]bool, len(ops))
	var left map[string]bool
	var err error
	if slices.ContainsFunc(ops, func(op Op) bool { return op.Merge != "" && op.Merge != op.Customer }) {
		left, err = s.applyInOrder(b, T, ops, states, applied)
	} else {
		err = s.applyByCustomer(b, T, ops, states, applied)
	}
	if err != nil {
		return nil, 0, err
	}
	dups := 0
	for i, op := range ops {
		if (op.Kind == opOrder || op.Kind == opRefund) && !applied[i] {
			dups++
		}
	}
	if !evaluate {
		return nil, dups, b.write(ctx)
	}
	var full []*State
	var causes []Cause
	for i, st := range states {
		if st != nil {
			full = append(full, st)
			causes = append(causes, Cause{EventID: ops[i].CauseID, EventType: ops[i].CauseType, Backfill: ops[i].Backfill})
		}
	}
	changes, _, err := s.evaluate(ctx, b, T, full, causes, left)
	return changes, dups, err
}

// applyInOrder applies ops to b's records in order, and sets states[i],
// for each op i that is a customer's last before an identity merge or the
// end of the batch, to the customer's state then, so that a change is
// attributed to that event; applied[i] tells whether op i changed its
// record. It returns the customers merged into another (left).
func (s *Store) applyInOrder(b *batch, T time.Time, ops []Op, states []*State, applied []bool) (map[string]bool, error) {
	W := s.cfg.Window.Milliseconds()
	lastOf := map[string]int{} // the op whose state is c's at that point
	settle := func() {
		for c, i := range lastOf {
			states[i] = s.state(b.recs[c], c, T.UnixMilli(), W)
			states[i].Applied = applied[i]
		}
		clear(lastOf)
	}
	var left map[string]bool
	for i, op := range ops {
		if op.Merge != "" && op.Merge != op.Customer {
			settle()
			b.merge(op)
			if left == nil {
				left = map[string]bool{}
			}
			left[op.Merge] = true
		}
		ok, c, err := b.apply(op, T)
		if err != nil {
			return nil, err
		}
		if op.Kind != opNone {
			b.dirty[op.Customer], b.dirty[c] = true, true
		}
		applied[i] = ok
		lastOf[c] = i
	}
	settle()
	return left, nil
}

// applyByCustomer is applyInOrder for ops without an identity merge, on
// every core: the records are shared out by the customer whose record an
// op lands in (a merged visitor's events land in the customer's), and each
// core applies its customers' ops in order, so every record sees its ops
// as applyInOrder would give them. Of ops that fail, the first one's error
// is returned.
func (s *Store) applyByCustomer(b *batch, T time.Time, ops []Op, states []*State, applied []bool) error {
	n := runtime.GOMAXPROCS(0)
	if len(ops) <= parallelAbove || n == 1 {
		_, err := s.applyInOrder(b, T, ops, states, applied)
		return err
	}
	share := make([]int, len(ops)) // of each op, the core that applies it
	shareOf := make(map[string]int, len(ops))
	for i, op := range ops {
		c := b.target(op.Customer)
		k, ok := shareOf[c]
		if !ok {
			k = len(shareOf) % n
			shareOf[c] = k
		}
		share[i] = k
	}
	W := s.cfg.Window.Milliseconds()
	errAt := make([]int, n)
	errs := make([]error, n)
	dirty := make([][]string, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			lastOf := make(map[string]int, len(ops)/n+1)
			for i, op := range ops {
				if share[i] != k {
					continue
				}
				ok, c, err := b.apply(op, T)
				if err != nil {
					errAt[k], errs[k] = i, err
					return
				}
				if op.Kind != opNone {
					dirty[k] = append(dirty[k], op.Customer, c)
				}
				applied[i] = ok
				lastOf[c] = i
			}
			for c, i := range lastOf {
				states[i] = s.state(b.recs[c], c, T.UnixMilli(), W)
				states[i].Applied = applied[i]
			}
		})
	}
	wg.Wait()
	first := -1
	for k, err := range errs {
		if err != nil && (first < 0 || errAt[k] < errAt[first]) {
			first = k
		}
	}
	if first >= 0 {
		return errs[first]
	}
	for _, cs := range dirty {
		for _, c := range cs {
			b.dirty[c] = true
		}
	}
	return nil
}

// state is the State of customer c, whose record is r, as of T, window W;
// with the purchase days only if the store has a model to read them.
func (s *Store) state(r *record, c string, T, W int64) *State {
	st := r.state(c, T, W)
	if s.cfg.Models != nil {
		st.days = r.days(T)
	}
	return st
}

// read returns customers' states as of T, from Redis, without changing
// them; a reader that is no writer (the read API) never sees a cached one.
func (s *Store) read(ctx context.Context, T time.Time, customers []string) ([]*State, error) {
	recs, err := s.fetch(ctx, customers)
	if err != nil {
		return nil, err
	}
	states := make([]*State, len(customers))
	for i, r := range recs {
		states[i] = s.state(r, customers[i], T.UnixMilli(), s.cfg.Window.Milliseconds())
	}
	return states, nil
}

// settle evaluates customers as of T — records them in the population,
// schedules their timers, and stages their changes' snapshots if stage —
// with causes, and returns their states, snapshots and changes.
func (s *Store) settle(ctx context.Context, T time.Time, customers []string, causes []Cause, stage bool) ([]*State, []Snapshot, []Change, error) {
	type result struct {
		states  []*State
		snaps   []Snapshot
		changes []Change
	}
	res, err := retry(func(bool) (result, error) {
		b := s.newBatch(len(customers))
		b.rewrite, b.stage = true, stage
		if err := b.load(ctx, customers...); err != nil {
			return result{}, err
		}
		states := make([]*State, len(customers))
		for i, c := range customers {
			states[i] = s.state(b.recs[c], c, T.UnixMilli(), s.cfg.Window.Milliseconds())
		}
		changes, snaps, err := s.evaluate(ctx, b, T, states, causes, nil)
		return result{states, snaps, changes}, err
	})
	return res.states, res.snaps, res.changes, err
}

// entryOf is the population entry of st evaluated at T.
func entryOf(st *State, T time.Time) population.Entry {
	return population.Entry{Version: st.Version, At: T.UnixMilli(), F: st.Values.F, M: st.Values.M, Last: st.Last.UnixMilli()}
}
