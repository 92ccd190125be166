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

func TestInt128SumsExactlyAndClamps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 10_000 {
		var a int128
		want := new(big.Int)
		for range rng.IntN(8) {
			x := int64(rng.Uint64())
			if rng.IntN(2) == 0 {
				x >>= 2 // often back in range after a few terms
			}
			if rng.IntN(2) == 0 {
				a.add(x)
				want.Add(want, big.NewInt(x))
			} else {
				a.sub(x)
				want.Sub(want, big.NewInt(x))
			}
		}
		w := want
		switch {
		case w.Sign() < 0:
			w = big.NewInt(0)
		case !w.IsInt64():
			w = big.NewInt(math.MaxInt64)
		}
		if got := a.clamp(); got != w.Int64() {
			t.Fatalf("clamped sum = %d, want %d (exact %s)", got, w.Int64(), want)
		}
	}
}
