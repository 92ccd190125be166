package rank

import (
	"slices"
	"sort"
)

const maxBucket = 1024

// Set is a multiset of int64 values that keeps them, for holders that keep
// no columns of their own to select from (pkg/population): it answers how
// many values lie below a bound (Below) and which value has a given rank
// (Select) without a pass over the values.
//
// The values are kept sorted in buckets of at most maxBucket; a bucket that
// grows past it is split, and an empty one removed. Insert and Remove move at
// most maxBucket values (a few microseconds); Below and Select binary-search
// the bucket and sum the counts of the buckets before it, kept in a Fenwick
// tree rebuilt when buckets split or merge. At 10M values that is about 10k
// buckets: both answer in a few microseconds, and the set costs 8 bytes a
// value plus a few bytes a bucket.
//
// The zero value is empty and ready to use. A Set is not safe for
// concurrent use.
type Set struct {
	buckets [][]int64 // each sorted, non-empty; buckets in order
	counts  fenwick   // counts[i] = len(buckets[i])
	n       int
}

// Len is the number of values.
func (s *Set) Len() int { return s.n }

// bucket returns the index of the bucket that x belongs in: the first whose
// last value is ≥ x, or the last bucket.
func (s *Set) bucket(x int64) int {
	i := sort.Search(len(s.buckets), func(i int) bool {
		b := s.buckets[i]
		return b[len(b)-1] >= x
	})
	return min(i, len(s.buckets)-1)
}

// Insert adds x.
func (s *Set) Insert(x int64) {
	s.n++
	if len(s.buckets) == 0 {
		s.buckets = [][]int64{{x}}
		s.counts = newFenwick(s.buckets)
		return
	}
	i := s.bucket(x)
	b := s.buckets[i]
	j, _ := slices.BinarySearch(b, x)
	s.buckets[i] = slices.Insert(b, j, x)
	if len(s.buckets[i]) <= maxBucket {
		s.counts.add(i, 1)
		return
	}
	half := len(s.buckets[i]) / 2
	right := slices.Clone(s.buckets[i][half:])
	s.buckets[i] = s.buckets[i][:half:half]
	s.buckets = slices.Insert(s.buckets, i+1, right)
	s.counts = newFenwick(s.buckets)
}

// Remove removes one x and tells whether there was one.
func (s *Set) Remove(x int64) bool {
	if len(s.buckets) == 0 {
		return false
	}
	i := s.bucket(x)
	b := s.buckets[i]
	j, found := slices.BinarySearch(b, x)
	if !found {
		return false
	}
	s.n--
	s.buckets[i] = slices.Delete(b, j, j+1)
	if len(s.buckets[i]) > 0 {
		s.counts.add(i, -1)
		return true
	}
	s.buckets = slices.Delete(s.buckets, i, i+1)
	s.counts = newFenwick(s.buckets)
	return true
}

// Below returns how many values are < x.
func (s *Set) Below(x int64) int {
	if len(s.buckets) == 0 {
		return 0
	}
	i := s.bucket(x)
	j, _ := slices.BinarySearch(s.buckets[i], x)
	return s.counts.prefix(i) + j
}

// AtMost returns how many values are ≤ x.
func (s *Set) AtMost(x int64) int {
	if x == maxInt64 {
		return s.n
	}
	return s.Below(x + 1)
}

const maxInt64 = 1<<63 - 1

// Select returns the value of rank k (0 is the smallest), for 0 ≤ k < Len.
func (s *Set) Select(k int) int64 {
	i, before := s.counts.find(k)
	return s.buckets[i][k-before]
}

// fenwick is a Fenwick (binary indexed) tree of bucket sizes.
type fenwick []int

func newFenwick(buckets [][]int64) fenwick {
	f := make(fenwick, len(buckets)+1)
	for i, b := range buckets {
		f[i+1] += len(b)
		if j := (i + 1) + (i+1)&-(i+1); j < len(f) {
			f[j] += f[i+1]
		}
	}
	return f
}

// add adds d to the size of bucket i.
func (f fenwick) add(i, d int) {
	for i++; i < len(f); i += i & -i {
		f[i] += d
	}
}

// prefix returns the total size of the buckets before i.
func (f fenwick) prefix(i int) int {
	n := 0
	for ; i > 0; i -= i & -i {
		n += f[i]
	}
	return n
}

// find returns the bucket holding the value of rank k, and the total size of
// the buckets before it.
func (f fenwick) find(k int) (bucket, before int) {
	pos := 0
	step := 1
	for step*2 < len(f) {
		step *= 2
	}
	for ; step > 0; step /= 2 {
		if next := pos + step; next < len(f) && f[next] <= k {
			pos = next
			k -= f[next]
			before += f[next]
		}
	}
	return pos, before
}
