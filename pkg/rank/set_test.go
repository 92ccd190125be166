package rank

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
)

// sortedSet is a plain sorted slice: the obviously right multiset.
type sortedSet []int64

func (r *sortedSet) insert(x int64) {
	i, _ := slices.BinarySearch(*r, x)
	*r = slices.Insert(*r, i, x)
}

func (r *sortedSet) remove(x int64) bool {
	i, ok := slices.BinarySearch(*r, x)
	if ok {
		*r = slices.Delete(*r, i, i+1)
	}
	return ok
}

func (r sortedSet) below(x int64) int {
	return sort.Search(len(r), func(i int) bool { return r[i] >= x })
}

func TestSetAgreesWithASortedSliceThroughInsertsAndRemoves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ops    int
		domain int64
	}{
		{"few distinct values, many ties", 20000, 7},
		{"wide values", 20000, 1 << 40},
		{"values around zero", 5000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.ops)))
			var s Set
			var ref sortedSet
			value := func() int64 { return r.Int64N(tc.domain) - tc.domain/3 }
			for op := range tc.ops {
				// Grow for the first 60% of the operations, then shrink, so
				// that buckets are split and removed.
				if r.IntN(10) < 7 && op < tc.ops*6/10 || len(ref) == 0 {
					x := value()
					s.Insert(x)
					ref.insert(x)
				} else {
					x := ref[r.IntN(len(ref))]
					if r.IntN(5) == 0 {
						x = value() // maybe absent
					}
					if got, want := s.Remove(x), ref.remove(x); got != want {
						t.Fatalf("op %d: Remove(%d) = %v, want %v", op, x, got, want)
					}
				}
				if s.Len() != len(ref) {
					t.Fatalf("op %d: Len %d, want %d", op, s.Len(), len(ref))
				}
				if op%97 != 0 || len(ref) == 0 {
					continue
				}
				for range 5 {
					x := value()
					if got, want := s.Below(x), ref.below(x); got != want {
						t.Fatalf("op %d: Below(%d) = %d, want %d", op, x, got, want)
					}
					if got, want := s.AtMost(x), ref.below(x+1); got != want {
						t.Fatalf("op %d: AtMost(%d) = %d, want %d", op, x, got, want)
					}
					k := r.IntN(len(ref))
					if got := s.Select(k); got != ref[k] {
						t.Fatalf("op %d: Select(%d) = %d, want %d", op, k, got, ref[k])
					}
				}
			}
		})
	}
}

func TestAnEmptySetCountsNothing(t *testing.T) {
	var s Set
	if s.Len() != 0 || s.Below(5) != 0 || s.AtMost(maxInt64) != 0 || s.Remove(5) {
		t.Error("an empty set holds something")
	}
	s.Insert(maxInt64)
	if s.AtMost(maxInt64) != 1 || s.Below(maxInt64) != 0 {
		t.Error("the largest int64 is not counted at its bound")
	}
}

func BenchmarkSet(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		r := rand.New(rand.NewPCG(1, 2))
		var s Set
		for range n {
			s.Insert(r.Int64N(1 << 50))
		}
		b.Run("update/"+itoa(n), func(b *testing.B) {
			for b.Loop() {
				x := s.Select(r.IntN(n))
				s.Remove(x)
				s.Insert(r.Int64N(1 << 50))
			}
		})
		b.Run("below/"+itoa(n), func(b *testing.B) {
			for b.Loop() {
				s.Below(r.Int64N(1 << 50))
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
