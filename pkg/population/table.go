package population

import "hash/maphash"

// table maps customer ids to their entries with no pointer per customer,
// so that the garbage collector, which follows every pointer of the heap
// in each cycle, skips it whole. A map[string]Entry of 10M customers is 10M
// keys whose ids each cycle of each updater visits (BenchmarkHeld: a full
// collection holding 1M customers takes about 17 times as long as holding
// them in a table, for about the same heap). The ids are kept end to end
// in one byte slice (ids) and the entries in slots, which an index finds
// by a seeded 64-bit hash of the id. Lookups compare the whole id, so they
// are exact: an id whose hash another id's slot has (among 10M ids, any two
// share a hash with a chance of about one in 370,000) is kept in a map of
// its own (clash), as is an id too long for a slot.
type table struct {
	hash  func(string) uint64
	index map[uint64]uint32 // by the hash of its id, a slot
	slots []slot
	free  []uint32 // slots of removed ids, to take again
	ids   []byte
	dead  int // bytes of ids that no slot holds any more
	clash map[string]Entry
	// minDead is the fewest dead bytes that compact copies ids for.
	minDead int
}

// slot is an id and its entry: the id is ids[off:off+n], where the 40 high
// bits of at are off and the 24 low bits n; at is freeSlot for a slot no id
// holds.
type slot struct {
	at uint64
	e  Entry
}

const (
	lenBits  = 24
	maxIDLen = 1<<lenBits - 1
	freeSlot = ^uint64(0)
)

func (s *slot) span() (int, int) {
	off, n := int(s.at>>lenBits), int(s.at&maxIDLen)
	return off, off + n
}

func newTable() *table {
	seed := maphash.MakeSeed()
	return &table{hash: func(id string) uint64 { return maphash.String(seed, id) }, index: map[uint64]uint32{}, minDead: 64 << 10}
}

// at returns the slot that the index has for id's hash h, if any, and
// whether it holds id.
func (t *table) at(id string) (s *slot, h uint64, holds bool) {
	h = t.hash(id)
	i, ok := t.index[h]
	if !ok {
		return nil, h, false
	}
	s = &t.slots[i]
	lo, hi := s.span()
	return s, h, string(t.ids[lo:hi]) == id // compared without a copy
}

func (t *table) get(id string) (Entry, bool) {
	if s, _, ok := t.at(id); ok {
		return s.e, true
	}
	e, ok := t.clash[id]
	return e, ok
}

// put sets id's entry.
func (t *table) put(id string, e Entry) {
	s, h, ok := t.at(id)
	if ok {
		s.e = e
		return
	}
	if _, held := t.clash[id]; held || s != nil || len(id) > maxIDLen {
		if t.clash == nil {
			t.clash = map[string]Entry{}
		}
		t.clash[id] = e
		return
	}
	t.compact()
	ns := slot{at: uint64(len(t.ids))<<lenBits | uint64(len(id)), e: e}
	t.ids = append(t.ids, id...)
	var i uint32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
		t.slots[i] = ns
	} else {
		i = uint32(len(t.slots))
		t.slots = append(t.slots, ns)
	}
	t.index[h] = i
}

// remove forgets id.
func (t *table) remove(id string) {
	s, h, ok := t.at(id)
	if !ok {
		delete(t.clash, id)
		return
	}
	lo, hi := s.span()
	t.dead += hi - lo
	s.at = freeSlot
	t.free = append(t.free, t.index[h])
	delete(t.index, h)
}

func (t *table) len() int { return len(t.index) + len(t.clash) }

// compact copies the ids that slots hold to a new slice once the bytes of
// removed ones are more than half of it (and minDead), so that the ids of
// customers gone (merged, erased) do not accumulate.
func (t *table) compact() {
	if t.dead < t.minDead || 2*t.dead < len(t.ids) {
		return
	}
	ids := make([]byte, 0, len(t.ids)-t.dead)
	for i := range t.slots {
		if s := &t.slots[i]; s.at != freeSlot {
			lo, hi := s.span()
			s.at = uint64(len(ids))<<lenBits | uint64(hi-lo)
			ids = append(ids, t.ids[lo:hi]...)
		}
	}
	t.ids, t.dead = ids, 0
}
