package view

import (
	"encoding/binary"
	"slices"
)

// labels numbers each distinct tier and set of tags that customers hold, so
// that a customer keeps one number for both: a population holds few such
// sets (a tier of three and a handful of tags make a few dozen), where a
// slice of tags a customer costs 24 bytes and more. A set is numbered from
// 1 (0 marks a row that holds nobody), and its number is reused once no
// customer holds it.
type labels struct {
	sets []labelSet
	ids  map[string]uint32 // by key
	free []uint32
}

// labelSet is a tier and a set of tags, as numbered by the view's interns.
type labelSet struct {
	tier uint32
	tags []uint32 // sorted
	refs int      // customers holding the set
	key  string
}

func newLabels() labels {
	return labels{sets: []labelSet{{}}, ids: map[string]uint32{}}
}

// hold returns the number of the set of tier and tags (sorted, without
// duplicates), counting one more customer holding it.
func (l *labels) hold(tier uint32, tags []uint32) uint32 {
	key := binary.AppendUvarint(nil, uint64(tier))
	for _, t := range tags {
		key = binary.AppendUvarint(key, uint64(t))
	}
	if id, ok := l.ids[string(key)]; ok {
		l.sets[id].refs++
		return id
	}
	s := labelSet{tier: tier, tags: slices.Clone(tags), refs: 1, key: string(key)}
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
