package view

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// Customer ids. Each id is kept once, in an arena of chunks of at least
// 1 MiB: its length as a uvarint, then its bytes; its row keeps its offset,
// the chunk above arenaBits and the position below. The index from id to
// row is an open-addressing hash table of rows probed linearly, kept at most
// 3/4 full and doubled when it would be more: 5.3 to 10.7 bytes a
// customer, where a Go map of the ids costs about 55 besides the ids' bytes
// (BenchmarkBuild). Removed ids are garbage in the arena until there is more
// garbage than ids; then the live ids are copied to new chunks.

const (
	arenaBits = 20
	arenaSize = 1 << arenaBits
	maxChunks = 1 << (32 - arenaBits) // 4 GiB of ids
)

type ids struct {
	seed  maphash.Seed
	slots []int32 // row+1 of an id that hashes to the slot or one before; 0 for none
	n     int
	arena [][]byte
	// bytes of the arena taken by ids held, and by ids removed
	live, garbage int
}

// idAt returns the id at arena offset off.
func (x *ids) idAt(off uint32) []byte {
	c := x.arena[off>>arenaBits][off&(arenaSize-1):]
	if c[0] < 0x80 { // a length below 128, as most are
		return c[1 : 1+int(c[0])]
	}
	n, w := binary.Uvarint(c)
	return c[w : w+int(n)]
}

// store copies id into the arena and returns its offset.
func (x *ids) store(id []byte) uint32 {
	need := binary.MaxVarintLen64 + len(id)
	last := len(x.arena) - 1
	if last < 0 || cap(x.arena[last])-len(x.arena[last]) < need || len(x.arena[last]) >= arenaSize {
		if len(x.arena) == maxChunks {
			panic("view: more than 4 GiB of customer ids")
		}
		x.arena = append(x.arena, make([]byte, 0, max(arenaSize, need)))
		last++
	}
	c := x.arena[last]
	off := uint32(last)<<arenaBits | uint32(len(c))
	before := len(c)
	c = binary.AppendUvarint(c, uint64(len(id)))
	c = append(c, id...)
	x.arena[last] = c
	x.live += len(c) - before
	return off
}

// lookup returns the row of id.
func (v *View) lookup(id string) (int32, bool) {
	if v.ids.n == 0 {
		return 0, false
	}
	mask := len(v.ids.slots) - 1
	for i := int(maphash.String(v.ids.seed, id)) & mask; ; i = (i + 1) & mask {
		r := v.ids.slots[i] - 1
		if r < 0 {
			return 0, false
		}
		if string(v.ids.idAt(v.cust(r).id)) == id {
			return r, true
		}
	}
}

// addID gives row the id (which the view does not hold yet).
func (v *View) addID(row int32, id string) {
	x := &v.ids
	if (x.n+1)*4 > len(x.slots)*3 {
		v.rehash(max(1024, 2*len(x.slots)))
	}
	v.cust(row).id = x.store([]byte(id))
	x.place(maphash.String(x.seed, id), row)
	x.n++
}

// place puts row in the first free slot from hash h.
func (x *ids) place(h uint64, row int32) {
	mask := len(x.slots) - 1
	i := int(h) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = row + 1
}

// rehash rebuilds the index with size slots.
func (v *View) rehash(size int) {
	x := &v.ids
	x.slots = make([]int32, size)
	for row, c := range v.all() {
		x.place(maphash.Bytes(x.seed, x.idAt(c.id)), row)
	}
}

// removeID forgets the id of row, shifting back the rows probed past it so
// that every row stays reachable from its hash.
func (v *View) removeID(row int32) {
	x := &v.ids
	mask := len(x.slots) - 1
	id := x.idAt(v.cust(row).id)
	x.live -= len(id) + uvarintLen(len(id))
	x.garbage += len(id) + uvarintLen(len(id))
	i := int(maphash.Bytes(x.seed, id)) & mask
	for x.slots[i] != row+1 {
		i = (i + 1) & mask
	}
	x.slots[i] = 0
	x.n--
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		home := int(maphash.Bytes(x.seed, x.idAt(v.cust(x.slots[j]-1).id))) & mask
		// The row at j stays if its home is cyclically in (i, j].
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		x.slots[i], x.slots[j] = x.slots[j], 0
		i = j
	}
	if x.garbage > arenaSize && x.garbage > x.live {
		v.compact()
	}
}

// compact copies the ids held to new chunks, leaving out the garbage.
func (v *View) compact() {
	old := v.ids.arena
	v.ids.arena, v.ids.live, v.ids.garbage = nil, 0, 0
	for _, c := range v.all() {
		off := c.id
		id := (&ids{arena: old}).idAt(off)
		c.id = v.ids.store(id)
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

// compareIDs orders rows a and b by id.
func (v *View) compareIDs(a, b int32) int {
	return bytes.Compare(v.ids.idAt(v.cust(a).id), v.ids.idAt(v.cust(b).id))
}
