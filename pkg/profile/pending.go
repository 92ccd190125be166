package profile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/nes"
)

// How a published snapshot is recorded without a second write.
//
// A batch that changes customers' snapshots writes each changed record with
// the new snapshot (published) and the batch's mark (pend): the writer's id
// and the batch's sequence number. Before the records, the batch writes its
// outbox: for each changed customer, the snapshot last published before it
// (prev). The caller publishes the changes and then commits the batch
// (Commit), which deletes the outbox and moves the writer's watermark: the
// highest sequence number at and below which every batch of the writer is
// committed. Commit writes two keys per batch, whatever its size.
//
// Whoever reads a record with a mark (resolve) learns whether its batch was
// committed: by the watermark, or, above it, by the outbox — present, the
// batch was not committed, and the customer's snapshot last published is
// the outbox's; gone, it was. A batch that crashed between its write and its
// Commit thus leaves what a crash before the write would have: its events
// applied and the published snapshot the one before, so the redelivered
// events publish the same changes with the same ids.
//
// A writer's batches are committed in any order; a batch that is never
// committed (its publish failed, its write met a conflict or an error)
// holds its writer's watermark back, so the store then takes a new writer
// id (abandon, or begin once a batch has been open for rotateAfter) and the
// old id's batches above its watermark are resolved by their outboxes.

// pendMark names a batch: the writer's id and the batch's number (zero:
// none).
type pendMark struct{ w, seq uint64 }

// lastPublished is the snapshot last published of r's customer: a prospect
// if none was.
func (r *record) lastPublished() Snapshot {
	switch {
	case r.open:
		return r.prev
	case r.published != nil:
		return *r.published
	}
	return Snapshot{Stage: nes.Prospect}
}

const (
	// outboxTTL is how long an outbox outlives a batch that was never
	// committed: the redelivery of its events, which comes as soon as an
	// updater reads its partitions, finds it within that.
	outboxTTL = 7 * 24 * time.Hour
	// watermarkTTL is how long a writer's watermark outlives its last
	// batch.
	watermarkTTL = 30 * 24 * time.Hour
	// rotateAfter is how long a batch may stay uncommitted before the
	// store takes a new writer id, so that it holds back no watermark of
	// the batches after it.
	rotateAfter = 30 * time.Second
)

// pending is a store's batches written and not yet committed, and the
// watermarks it knows.
type pending struct {
	mu   sync.Mutex
	w    uint64                 // the writer id new batches take; 0: take one
	seq  uint64                 // the last batch number given
	open map[pendMark]time.Time // batches of this store not committed, since when
	high map[uint64]uint64      // per writer id of this store: the last batch number given
	// marks are the watermarks known: this store's, as written, and
	// others', as read
	marks map[uint64]uint64
}

// lock locks p, whose maps it makes on first use.
func (p *pending) lock() *pending {
	p.mu.Lock()
	if p.open == nil {
		p.open, p.high, p.marks = map[pendMark]time.Time{}, map[uint64]uint64{}, map[uint64]uint64{}
	}
	return p
}

// begin gives the next batch its mark, taking a new writer id if there is
// none yet or one of the current id's batches has been open too long.
func (s *Store) begin(ctx context.Context) (pendMark, error) {
	p := s.pub.lock()
	defer p.mu.Unlock()
	if p.w != 0 {
		for m, since := range p.open {
			if m.w == p.w && time.Since(since) > rotateAfter {
				p.w = 0
				break
			}
		}
	}
	if p.w == 0 {
		w, err := s.rdb.Incr(ctx, s.writersKey()).Result()
		if err != nil {
			return pendMark{}, fmt.Errorf("take a writer id: %w", err)
		}
		p.w = uint64(w)
	}
	p.seq++
	m := pendMark{p.w, p.seq}
	p.open[m] = time.Now()
	p.high[m.w] = m.seq
	return m, nil
}

// abandon is told that batch m's write failed: its records may or may not
// have been written, and it will never be committed, so the store takes a
// new writer id for the batches after it.
func (s *Store) abandon(m pendMark) {
	s.pub.mu.Lock()
	defer s.pub.mu.Unlock()
	if s.pub.w == m.w {
		s.pub.w = 0
	}
}

// committed tells whether batch m is known committed without asking Redis:
// a batch of this store that is not open, or at or below a known watermark.
// Callers hold s.pub.mu.
func (p *pending) committed(m pendMark) bool {
	if high, ok := p.high[m.w]; ok && m.seq <= high {
		_, open := p.open[m]
		return !open
	}
	return m.seq <= p.marks[m.w]
}

// mine tells whether writer id w is this store's. Callers hold p.mu.
func (p *pending) mine(w uint64) bool {
	_, ok := p.high[w]
	return ok
}

// resolve sets open and prev of recs (customers' records, in their order)
// whose batch is not committed, and clears open of those whose batch is.
// A record whose batch is neither known committed nor this store's with
// prev known (a cached record it wrote) is looked up in one round trip: the
// writer's watermark and the batch's outbox.
func (s *Store) resolve(ctx context.Context, customers []string, recs []*record) error {
	type lookup struct {
		i    int
		prev *redis.StringCmd
	}
	var ask []lookup
	// the watermarks to read: of other writers' ids (this store's own it
	// knows), once each
	marks := map[uint64]*redis.StringCmd{}
	s.pub.lock()
	for i, r := range recs {
		switch {
		case r.pend == (pendMark{}):
			r.open = false
		case s.pub.committed(r.pend):
			r.open = false
		case r.open && s.pub.mine(r.pend.w):
			// a record this store wrote, whose prev it knows until its
			// Commit; another writer's batch may be committed any time
		default:
			ask = append(ask, lookup{i: i})
			if !s.pub.mine(r.pend.w) {
				marks[r.pend.w] = nil
			}
		}
	}
	s.pub.mu.Unlock()
	if len(ask) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for w := range marks {
			marks[w] = pipe.Get(ctx, s.watermarkKey(w))
		}
		for j := range ask {
			ask[j].prev = pipe.HGet(ctx, s.outboxKey(recs[ask[j].i].pend), customers[ask[j].i])
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read %d batches' outboxes: %w", len(ask), err)
	}
	s.pub.lock()
	defer s.pub.mu.Unlock()
	for w, cmd := range marks {
		if v, err := cmd.Uint64(); err == nil && v > s.pub.marks[w] {
			s.pub.marks[w] = v
		}
	}
	for _, a := range ask {
		r := recs[a.i]
		v, err := a.prev.Bytes()
		if s.pub.committed(r.pend) || errors.Is(err, redis.Nil) {
			r.open = false // committed: its outbox is gone
			continue
		}
		prev, err := decodePrev(v)
		if err != nil {
			return fmt.Errorf("the outbox of a batch: %w", err)
		}
		r.open, r.prev = true, prev
	}
	return nil
}

// encode is encodePrev(o.snap), copied from o.enc if it is known.
func (o outboxPrev) encode() []byte {
	if o.enc == nil {
		return encodePrev(o.snap)
	}
	return append(append(make([]byte, 0, 1+len(o.enc)), publishedMark(&o.snap)), o.enc...)
}

// encodePrev is an outbox's value of a customer: the snapshot last
// published.
func encodePrev(p Snapshot) []byte {
	n := 32 + len(p.Waterfall)
	for _, t := range p.Tags {
		n += len(t) + 2
	}
	return appendSnapshot(append(make([]byte, 0, n), publishedMark(&p)), &p)
}

func decodePrev(v []byte) (Snapshot, error) {
	d := &decoder{b: v, s: string(v)}
	m := d.byte()
	if m != 1 && m != 2 {
		return Snapshot{}, errRecord
	}
	p := d.snapshot(m)
	if d.err != nil || len(d.b) != 0 {
		return Snapshot{}, errRecord
	}
	return *p, nil
}

// Commit records that changes were published: their batches are committed,
// so that their snapshots are not published again. It writes, per batch,
// the deletion of its outbox and the writer's watermark if it moved.
func (s *Store) Commit(ctx context.Context, changes []Change) error {
	var marks []pendMark
	seen := map[pendMark]bool{}
	for _, ch := range changes {
		if m := ch.batch; m != (pendMark{}) && !seen[m] {
			seen[m] = true
			marks = append(marks, m)
		}
	}
	if len(marks) == 0 {
		return nil
	}
	p := s.pub.lock()
	for _, m := range marks {
		delete(p.open, m)
	}
	moved := map[uint64]uint64{}
	for _, m := range marks {
		wm := p.high[m.w]
		for o := range p.open {
			if o.w == m.w && o.seq <= wm {
				wm = o.seq - 1
			}
		}
		if wm > p.marks[m.w] {
			p.marks[m.w], moved[m.w] = wm, wm
		}
	}
	p.mu.Unlock()
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, m := range marks {
			pipe.Del(ctx, s.outboxKey(m))
		}
		for w, wm := range moved {
			pipe.Set(ctx, s.watermarkKey(w), strconv.FormatUint(wm, 10), watermarkTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d changes: %w", len(changes), err)
	}
	return nil
}
