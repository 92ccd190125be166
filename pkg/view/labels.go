package view

import (
	"encoding/binary"
	"slices"
)

// labels numbers each distinct tier, waterfall segment and set of tags that
// customers hold, so that a customer keeps one number for all three: a
// population holds few such sets (a tier of three, a waterfall of ten and a
// handful of tags make a few hundred), where a slice of tags a customer
// costs 24 bytes and more. A set is numbered from
// 1 (0 marks a row that holds nobody), and its number is reused once no
// customer holds it.
type labels struct {
	sets []labelSet
	ids  map[string]uint32 // by key
	free []uint32
}

// labelSet is a tier, a waterfall segment and a set of tags, as numbered by
// the view's interns.
type labelSet struct {
	tier      uint32
	waterfall uint32
	tags      []uint32 // sorted
	refs      int      // customers holding the set
	key       string
}

func newLabels() labels {
	return labels{sets: []labelSet{{}}, ids: map[string]uint32{}}
}

// hold returns the number of the set of tier, waterfall segment and tags
// (sorted, without duplicates), counting one more customer holding it.
func (l *labels) hold(tier, waterfall uint32, tags []uint32) uint32 {
	key := binary.AppendUvarint(nil, uint64(tier))
	key = binary.AppendUvarint(key, uint64(waterfall))
	for _, t := range tags {
		key = binary.AppendUvarint(key, uint64(t))
	}
	if id, ok := l.ids[string(key)]; ok {
		l.sets[id].refs++
		return id
	}
	s := labelSet{tier: tier, waterfall: waterfall, tags: slices.Clone(tags), refs: 1, key: string(key)}
	var id uint32
	if n := len(l.free); n > 0 {
		id, l.free = l.free[n-1], l.free[:n-1]
		l.sets[id] = s
	} else {
		id = uint32(len(l.sets))
		l.sets = append(l.sets, s)
	}
	l.ids[s.key] = id
	return id
}

// release counts one customer fewer holding set id.
func (l *labels) release(id uint32) {
	s := &l.sets[id]
	if s.refs--; s.refs == 0 {
		delete(l.ids, s.key)
		*s = labelSet{}
		l.free = append(l.free, id)
	}
}

// which returns, by set number, whether the set holds what has tells.
func (l *labels) which(has func(*labelSet) bool) []bool {
	out := make([]bool, len(l.sets))
	for i := 1; i < len(l.sets); i++ {
		out[i] = l.sets[i].refs > 0 && has(&l.sets[i])
	}
	return out
}
