// Package ids numbers customer ids by row, with no pointer per id, for the
// structures that hold every customer of a namespace in memory: each
// updater's population (pkg/population) and each read-API replica's view
// (pkg/view). The garbage collector follows every pointer of the heap in
// each of its cycles; a map[string]T of 10M customers is 10M keys for it to
// visit, and about 55 bytes a customer besides the ids' bytes.
//
// A Table keeps each id once, in an arena of chunks (of 4 KiB, then twice
// the last, up to 1 MiB): its length as a uvarint, then its bytes. A row is the caller's index into
// slices of its own; the table keeps each row's arena offset (4 bytes) and
// an index from id to row, an open-addressing hash table of rows probed
// linearly, kept at most 3/4 full and doubled when it would be more (5.3
// to 10.7 bytes a customer). Lookups compare the whole id, so any two ids,
// whatever their hashes, are told apart. The rows of removed ids are given
// again, most recent first; their ids' bytes are garbage in the arena until
// there are more of them than of ids held, when the ids held are copied to
// new chunks.
//
// A Table is not safe for concurrent use.
package ids

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
)

const (
	arenaBits = 20
	arenaSize = 1 << arenaBits
	// firstChunk is the size of the arena's first chunk; each next is
	// twice the last, up to arenaSize, so that a few ids take little
	firstChunk = 4 << 10
	maxChunks  = 1 << (32 - arenaBits) // nearly 4 GiB of ids
	// freeRow is the offset of a row no id holds.
	freeRow = ^uint32(0)
)

// Table is a set of ids numbered by row. Its zero value is empty and ready
// to use.
type Table struct {
	seed maphash.Seed // made by the first Add
	// narrow, if above 0, keeps that many low bits of each hash, so that
	// tests can make many ids share one
	narrow uint
	// minGarbage, if above 0, is the garbage that compact waits for
	// instead of a chunk's size, so that tests can compact often
	minGarbage int
	slots      []int32  // row+1 of an id that hashes to the slot or one before; 0 for none
	offs       []uint32 // by row, the arena offset of its id (freeRow for none)
	free       []int32  // rows of removed ids, to give again
	arena      [][]byte
	// bytes of the arena taken by ids held, and by ids removed
	live, garbage int
}

// Len is the number of ids held.
func (t *Table) Len() int { return len(t.offs) - len(t.free) }

// Rows is one more than the highest row given so far: the length the
// caller's slices by row need.
func (t *Table) Rows() int { return len(t.offs) }

// ID returns the id of row, a row held. The bytes are the table's: they
// are valid, and must not be changed, until the next Add or Remove.
func (t *Table) ID(row int32) []byte { return t.idAt(t.offs[row]) }

// Compare orders rows a and b by id, as bytes.Compare orders their ids.
func (t *Table) Compare(a, b int32) int { return bytes.Compare(t.ID(a), t.ID(b)) }

// Find returns the row of id, and whether the table holds id.
func (t *Table) Find(id string) (int32, bool) {
	if t.Len() == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := t.fold(maphash.String(t.seed, id)) & mask; ; i = (i + 1) & mask {
		r := t.slots[i] - 1
		if r < 0 {
			return 0, false
		}
		if string(t.ID(r)) == id { // compared without a copy
			return r, true
		}
	}
}

// Add adds id, which the table does not hold, and returns its row: the
// row of the id removed last, if one is free, else Rows().
func (t *Table) Add(id string) int32 {
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
	}
	if (t.Len()+1)*4 > len(t.slots)*3 {
		t.rehash(max(1024, 2*len(t.slots)))
	}
	off := store(t, id)
	var row int32
	if k := len(t.free); k > 0 {
		row, t.free = t.free[k-1], t.free[:k-1]
		t.offs[row] = off
	} else {
		row = int32(len(t.offs))
		t.offs = append(t.offs, off)
	}
	t.place(t.fold(maphash.String(t.seed, id)), row)
	return row
}

// Remove removes the id of row, a row held, shifting back the rows probed
// past it so that every row stays reachable from its hash; row is free to
// be given again.
func (t *Table) Remove(row int32) {
	mask := len(t.slots) - 1
	id := t.ID(row)
	size := len(id) + uvarintLen(len(id))
	t.live -= size
	t.garbage += size
	i := t.hashOf(id) & mask
	for t.slots[i] != row+1 {
		i = (i + 1) & mask
	}
	t.slots[i] = 0
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := t.hashOf(t.ID(t.slots[j]-1)) & mask
		// The row at j stays if its home is cyclically in (i, j].
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		t.slots[i], t.slots[j] = t.slots[j], 0
		i = j
	}
	t.offs[row] = freeRow
	t.free = append(t.free, row)
	if least := cmp.Or(t.minGarbage, arenaSize); t.garbage > least && t.garbage > t.live {
		t.compact()
	}
}

// hashOf is the hash of id.
func (t *Table) hashOf(id []byte) int { return t.fold(maphash.Bytes(t.seed, id)) }

// fold is the part of hash h that places ids.
func (t *Table) fold(h uint64) int {
	if t.narrow > 0 {
		h &= 1<<t.narrow - 1
	}
	return int(h)
}

// idAt returns the id at arena offset off.
func (t *Table) idAt(off uint32) []byte {
	c := t.arena[off>>arenaBits][off&(arenaSize-1):]
	if c[0] < 0x80 { // a length below 128, as most are
		return c[1 : 1+int(c[0])]
	}
	n, w := binary.Uvarint(c)
	return c[w : w+int(n)]
}

// store copies id into t's arena and returns its offset. A chunk starts
// below arenaSize, so an offset's position fits below arenaBits; an id
// longer than a chunk has a chunk of its own.
func store[S string | []byte](t *Table, id S) uint32 {
	need := binary.MaxVarintLen64 + len(id)
	last := len(t.arena) - 1
	if last < 0 || cap(t.arena[last])-len(t.arena[last]) < need || len(t.arena[last]) >= arenaSize {
		if len(t.arena) == maxChunks {
			panic("ids: the arena is full (about 4 GiB of ids)")
		}
		size := firstChunk // then twice the last, up to arenaSize
		if last >= 0 {
			size = min(2*cap(t.arena[last]), arenaSize)
		}
		t.arena = append(t.arena, make([]byte, 0, max(size, need)))
		last++
	}
	c := t.arena[last]
	off := uint32(last)<<arenaBits | uint32(len(c))
	before := len(c)
	c = binary.AppendUvarint(c, uint64(len(id)))
	c = append(c, id...)
	t.arena[last] = c
	t.live += len(c) - before
	return off
}

// place puts row in the first free slot from hash h.
func (t *Table) place(h int, row int32) {
	mask := len(t.slots) - 1
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = row + 1
}

// rehash rebuilds the index with size slots, a power of two.
func (t *Table) rehash(size int) {
	t.slots = make([]int32, size)
	for row, off := range t.offs {
		if off != freeRow {
			t.place(t.hashOf(t.idAt(off)), int32(row))
		}
	}
}

// compact copies the ids held to new chunks, leaving out the garbage.
func (t *Table) compact() {
	old := &Table{arena: t.arena}
	t.arena, t.live, t.garbage = nil, 0, 0
	for row, off := range t.offs {
		if off != freeRow {
			t.offs[row] = store(t, old.idAt(off))
		}
	}
}

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
