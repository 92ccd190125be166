package rank

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// reference is a plain sorted slice: the obviously right multiset.
type reference []int64

func (r *reference) insert(x int64) {
	i, _ := slices.BinarySearch(*r, x)
	*r = slices.Insert(*r, i, x)
}

func (r *reference) remove(x int64) {
	i, _ := slices.BinarySearch(*r, x)
	*r = slices.Delete(*r, i, i+1)
}

// selectAll selects ranks of h, offering it the values of ref in a random
// order.
func selectAll(h *Histogram, ref reference, r *rand.Rand, ranks ...int) []int64 {
	s := h.Select(ranks...)
	for _, i := range r.Perm(len(ref)) {
		s.Offer(ref[i])
	}
	return s.Values()
}

func TestSelectionsAgreeWithASortedSliceThroughInsertsAndRemoves(t *testing.T) {
	extremes := func(r *rand.Rand) int64 {
		return []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, math.MaxInt64 - 1, math.MaxInt64, int64(r.Uint64())}[r.IntN(7)]
	}
	for _, tc := range []struct {
		name   string
		ops    int
		origin int64
		value  func(r *rand.Rand) int64
	}{
		{"few distinct values, many ties", 20000, 0, func(r *rand.Rand) int64 { return r.Int64N(7) }},
		{"small counts, as F", 20000, 0, func(r *rand.Rand) int64 { return 1 + r.Int64N(40) }},
		{"money in micros, around zero", 20000, 0, func(r *rand.Rand) int64 { return r.Int64N(4_000_000_000) - 1_000_000_000 }},
		{"Unix milliseconds of two years", 20000, 0, func(r *rand.Rand) int64 { return 1_780_000_000_000 - r.Int64N(63_072_000_000) }},
		{"Unix milliseconds of two years from an origin among them", 20000, 1_770_000_000_000, func(r *rand.Rand) int64 { return 1_780_000_000_000 - r.Int64N(63_072_000_000) }},
		{"the extremes of int64", 5000, 0, extremes},
		{"the extremes of int64 from the smallest", 5000, math.MinInt64, extremes},
		{"the extremes of int64 from the largest", 5000, math.MaxInt64, extremes},
		{"the extremes of int64 from a large origin", 5000, 1 << 62, extremes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.ops)))
			h := Histogram{Origin: tc.origin}
			var ref reference
			for op := range tc.ops {
				// Grow for the first 60% of the operations, then shrink.
				if r.IntN(10) < 7 && op < tc.ops*6/10 || len(ref) == 0 {
					x := tc.value(r)
					h.Insert(x)
					ref.insert(x)
				} else {
					x := ref[r.IntN(len(ref))]
					h.Remove(x)
					ref.remove(x)
				}
				if h.Len() != len(ref) {
					t.Fatalf("op %d: Len %d, want %d", op, h.Len(), len(ref))
				}
				if op%199 != 0 || len(ref) == 0 {
					continue
				}
				n := len(ref)
				// The quintile ranks, the ends, and two at random.
				ranks := []int{n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5, 0, n - 1, r.IntN(n), r.IntN(n)}
				got := selectAll(&h, ref, r, ranks...)
				for i, k := range ranks {
					if got[i] != ref[k] {
						t.Fatalf("op %d: value of rank %d of %d is %d, want %d", op, k, n, got[i], ref[k])
					}
				}
			}
		})
	}
}

func TestBucketsAreOrderedAndTheirBoundsHoldTheirValues(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, origin := range []int64{0, 1_780_000_000_000, -5, math.MinInt64, math.MaxInt64, int64(r.Uint64())} {
		h := Histogram{Origin: origin}
		values := []int64{math.MinInt64, math.MinInt64 + 1, -1025, -1024, -1023, -2, -1, 0, 1, 1023, 1024, 1025, 2047, 2048, math.MaxInt64 - 1, math.MaxInt64}
		for range 50000 {
			values = append(values, int64(r.Uint64())>>r.IntN(64), origin+int64(r.Uint64())>>r.IntN(64))
		}
		for _, x := range values {
			b := h.bucketOf(x)
			lo, hi := h.boundsOf(b)
			if x < lo || x > hi || h.bucketOf(lo) != b || h.bucketOf(hi) != b {
				t.Fatalf("origin %d: %d in bucket %d of [%d, %d]: bounds in buckets %d and %d", origin, x, b, lo, hi, h.bucketOf(lo), h.bucketOf(hi))
			}
			if lo > math.MinInt64 && h.bucketOf(lo-1) != b-1 {
				t.Fatalf("origin %d: %d, just below bucket %d of %d, is in bucket %d", origin, lo-1, b, x, h.bucketOf(lo-1))
			}
			if hi < math.MaxInt64 && h.bucketOf(hi+1) != b+1 {
				t.Fatalf("origin %d: %d, just above bucket %d of %d, is in bucket %d", origin, hi+1, b, x, h.bucketOf(hi+1))
			}
			// within 1024 of the origin, below or above, a value has its own bucket
			ux, uo := uint64(x)^1<<63, uint64(origin)^1<<63
			if (ux >= uo && ux-uo < 1024 || ux < uo && uo-ux <= 1024) && lo != hi {
				t.Fatalf("origin %d: %d shares bucket [%d, %d]", origin, x, lo, hi)
			}
		}
	}
}

func TestASelectionOfferedOtherValuesThanTheHistogramsPanics(t *testing.T) {
	var h Histogram
	for x := range int64(5000) {
		h.Insert(x * 1000)
	}
	defer func() {
		if recover() == nil {
			t.Error("a selection not offered the value of its rank answered")
		}
	}()
	s := h.Select(2500)
	for x := range int64(5000) {
		if x != 2500 {
			s.Offer(x * 1000)
		}
	}
	s.Values()
}

// BenchmarkSelect selects the quintile values of n Unix milliseconds of two
// years (the spread of customers' last purchases, the widest buckets the
// view sees), from a histogram whose origin is the end of the two years (as
// the view puts it), beside sorting a copy of the values: the plain way to
// the same answer.
func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		r := rand.New(rand.NewPCG(1, 2))
		h := Histogram{Origin: 1_780_000_000_000}
		values := make([]int64, n)
		for i := range values {
			values[i] = 1_780_000_000_000 - r.Int64N(63_072_000_000)
			h.Insert(values[i])
		}
		ranks := []int{n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5}
		b.Run("histogram/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				s := h.Select(ranks...)
				for _, x := range values {
					s.Offer(x)
				}
				s.Values()
			}
		})
		b.Run("update/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				i := r.IntN(n)
				h.Remove(values[i])
				values[i] = 1_780_000_000_000 - r.Int64N(63_072_000_000)
				h.Insert(values[i])
			}
		})
		b.Run("sort/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				slices.Sort(slices.Clone(values))
			}
		})
	}
}
