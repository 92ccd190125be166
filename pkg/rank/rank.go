// Package rank answers, for a multiset of int64 values that changes one
// value at a time, which value has a given rank: the order statistics that
// quintile scores need over a population of customers.
//
// A Histogram keeps no values, only how many fall in each of a fixed set of
// buckets, in a Fenwick tree: a value costs nothing, the histogram a fixed
// 450 KB once it holds one. Values within 1024 of the histogram's origin
// have a bucket each; farther, a bucket spans 1/1024 of its power of two of
// distance from the origin (as HDR histograms bucket). The tree names the bucket that holds a rank and the rank within
// it; a Selection then takes the values of those buckets from one pass over
// the values, which the caller keeps (a population view's columns), and
// picks the exact one. So a selection costs a pass over the values and a
// sort of the few in the chosen buckets, and is exact whatever the values.
package rank

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

const (
	// sub is how many bits below its leading one a value keeps in its
	// bucket: buckets are exact to 2^sub and then 2^sub a power of two.
	sub = 10
	// magnitudes is the number of buckets of the magnitudes 0..2^64−1.
	magnitudes = (65 - sub) << sub
	// buckets: the negative values mirror the others.
	buckets = 2 * magnitudes
)

// bucketOf returns the bucket of x; buckets are in the order of their values.
// The values are measured from the origin, in the order-preserving unsigned
// form of int64 (so that no difference overflows).
func (h *Histogram) bucketOf(x int64) int {
	u, o := uint64(x)^1<<63, uint64(h.Origin)^1<<63
	if u >= o {
		return magnitudes + magnitude(u-o)
	}
	return magnitudes - 1 - magnitude(o-u-1)
}

func magnitude(u uint64) int {
	if u < 1<<sub {
		return int(u)
	}
	l := bits.Len64(u)
	return (l-sub)<<sub + int(u>>(l-sub-1)) - 1<<sub
}

// boundsOf returns the smallest and largest value of bucket b (of those
// an int64 can be).
func (h *Histogram) boundsOf(b int) (lo, hi int64) {
	o := uint64(h.Origin) ^ 1<<63
	var ulo, uhi uint64
	if b >= magnitudes {
		l, m := magnitudeBounds(b - magnitudes)
		ulo, uhi = o+min(l, math.MaxUint64-o), o+min(m, math.MaxUint64-o)
	} else {
		l, m := magnitudeBounds(magnitudes - 1 - b)
		ulo, uhi = o-1-min(m, o-1), o-1-min(l, o-1)
	}
	return int64(ulo ^ 1<<63), int64(uhi ^ 1<<63)
}

func magnitudeBounds(m int) (lo, hi uint64) {
	if m < 1<<sub {
		return uint64(m), uint64(m)
	}
	shift := m>>sub - 1
	lo = uint64(m&(1<<sub-1)+1<<sub) << shift
	return lo, lo + (1<<shift - 1)
}

// Histogram counts int64 values by bucket. The zero value is empty and ready
// to use. A Histogram is not safe for concurrent use.
type Histogram struct {
	// Origin is where the buckets are narrowest, set while the histogram
	// is empty: the values near it are told apart best, and a selection
	// among them gathers the fewest.
	Origin int64

	tree []int32 // Fenwick tree of the buckets' counts, 1-based
	n    int
}

// Len is the number of values.
func (h *Histogram) Len() int { return h.n }

// Insert adds x.
func (h *Histogram) Insert(x int64) {
	if h.tree == nil {
		h.tree = make([]int32, buckets+1)
	}
	h.n++
	h.add(h.bucketOf(x), 1)
}

// Remove removes one x, which the histogram must hold: it cannot tell x
// from another value of its bucket.
func (h *Histogram) Remove(x int64) {
	if h.n == 0 {
		panic("rank: Remove from an empty histogram")
	}
	h.n--
	h.add(h.bucketOf(x), -1)
}

func (h *Histogram) add(b int, d int32) {
	for i := b + 1; i < len(h.tree); i += i & -i {
		h.tree[i] += d
	}
}

// find returns the bucket holding the value of rank k, and the number of
// values in the buckets before it.
func (h *Histogram) find(k int) (bucket, before int) {
	pos := 0
	for step := 1 << (bits.Len(uint(len(h.tree))) - 1); step > 0; step >>= 1 {
		if next := pos + step; next < len(h.tree) && int(h.tree[next]) <= k {
			pos = next
			k -= int(h.tree[next])
			before += int(h.tree[next])
		}
	}
	return pos, before
}

// count returns the number of values in bucket b.
func (h *Histogram) count(b int) int {
	prefix := func(i int) (n int) {
		for ; i > 0; i -= i & -i {
			n += int(h.tree[i])
		}
		return n
	}
	return prefix(b+1) - prefix(b)
}

// Select starts a selection of the values of ranks (0 is the smallest;
// each 0 ≤ k < Len). Offer it every value the histogram holds, in any
// order, then read Values.
func (h *Histogram) Select(ranks ...int) *Selection {
	s := &Selection{ranks: make([]target, len(ranks)), lo: 1<<63 - 1, hi: -1 << 63}
	for i, k := range ranks {
		if k < 0 || k >= h.n {
			panic(fmt.Sprintf("rank: Select(%d) of %d values", k, h.n))
		}
		b, before := h.find(k)
		t := target{within: k - before, bucket: -1}
		if lo, hi := h.boundsOf(b); lo == hi {
			t.value = lo // a bucket of one value: nothing to gather
		} else {
			j := slices.IndexFunc(s.buckets, func(g gathered) bool { return g.bucket == b })
			if j < 0 {
				j = len(s.buckets)
				s.buckets = append(s.buckets, gathered{bucket: b, lo: lo, hi: hi, want: h.count(b)})
				s.lo, s.hi = min(s.lo, lo), max(s.hi, hi)
			}
			t.bucket = j
		}
		s.ranks[i] = t
	}
	return s
}

// Selection gathers the values of the buckets that hold some ranks.
type Selection struct {
	ranks   []target
	buckets []gathered
	lo, hi  int64 // the range of the buckets gathered
}

type target struct {
	bucket int // index into buckets; -1 if value is known
	within int // rank within the bucket
	value  int64
}

type gathered struct {
	bucket int
	lo, hi int64
	want   int // how many values the bucket holds
	values []int64
}

// Offer offers one value of the histogram.
func (s *Selection) Offer(x int64) {
	if x < s.lo || x > s.hi {
		return
	}
	for i := range s.buckets {
		if g := &s.buckets[i]; g.lo <= x && x <= g.hi {
			g.values = append(g.values, x)
			return
		}
	}
}

// Values returns the values of the ranks, in the order Select was given
// them. It panics if the values offered were not those the histogram holds.
func (s *Selection) Values() []int64 {
	for i := range s.buckets {
		g := &s.buckets[i]
		if len(g.values) != g.want {
			panic(fmt.Sprintf("rank: %d values offered in [%d, %d], the histogram holds %d", len(g.values), g.lo, g.hi, g.want))
		}
		slices.Sort(g.values)
	}
	out := make([]int64, len(s.ranks))
	for i, t := range s.ranks {
		out[i] = t.value
		if t.bucket >= 0 {
			out[i] = s.buckets[t.bucket].values[t.within]
		}
	}
	return out
}
