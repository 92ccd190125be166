package rfm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestCmpProductIsExactForAnySigns(t *testing.T) {
	edges := []int64{math.MinInt64, math.MinInt64 + 1, -3, -1, 0, 1, 2, 3, math.MaxInt64 - 1, math.MaxInt64}
	check := func(a, b, s int64) {
		t.Helper()
		p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		if got, want := cmpProduct(a, b, s), p.Cmp(big.NewInt(s)); got != want {
			t.Fatalf("cmpProduct(%d, %d, %d) = %d, want %d", a, b, s, got, want)
		}
	}
	for _, a := range edges {
		for _, b := range edges {
			for _, s := range edges {
				check(a, b, s)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		a, b, s := int64(rng.Uint64()), int64(rng.Uint64()), int64(rng.Uint64())
		if rng.IntN(2) == 0 {
			s = a * b // often equal once reduced, when the product fits
		}
		check(a, b, s)
		check(a>>32, b>>32, s)
	}
}
