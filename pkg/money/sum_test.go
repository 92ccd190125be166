package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestSumIsExactAgainstBigIntegers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	edges := []Micros{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, MaxAmount, MaxSum, math.MaxInt64}
	for range 10_000 {
		var s Sum
		want := new(big.Int)
		for range rng.IntN(40) {
			x := Micros(rng.Uint64())
			if rng.IntN(4) == 0 {
				x = edges[rng.IntN(len(edges))]
			}
			switch rng.IntN(3) {
			case 0:
				s = s.Add(x)
				want.Add(want, big.NewInt(int64(x)))
			case 1:
				s = s.Sub(x)
				want.Sub(want, big.NewInt(int64(x)))
			default:
				n := rng.Int64N(1<<32) - 1<<31 // a count of customers, or a quantity
				s = s.Plus(Product(x, n))
				want.Add(want, new(big.Int).Mul(big.NewInt(int64(x)), big.NewInt(n)))
			}
		}
		if s.Big().Cmp(want) != 0 {
			t.Fatalf("sum = %s, want %s", s.Big(), want)
		}
		back, ok := SumFromBig(want)
		if !ok || back != s {
			t.Fatalf("SumFromBig(%s) = %v %v, want %v", want, back, ok, s)
		}
		wantCap := want
		switch {
		case want.Sign() < 0:
			wantCap = big.NewInt(0)
		case want.Cmp(big.NewInt(int64(MaxSum))) > 0:
			wantCap = big.NewInt(int64(MaxSum))
		}
		if got := s.Cap(); int64(got) != wantCap.Int64() {
			t.Fatalf("Cap(%s) = %d, want %s", want, got, wantCap)
		}
		other := SumOf(Micros(rng.Uint64()))
		if got, want := s.Cmp(other), want.Cmp(other.Big()); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, want %d", s.Big(), other.Big(), got, want)
		}
	}
}

func TestSumMeanRoundsHalfAwayFromZero(t *testing.T) {
	tests := []struct {
		name string
		sum  Sum
		n    int64
		want Micros
	}{
		{"an exact mean", SumOf(10, 20), 2, 15},
		{"a half rounds up", SumOf(3), 2, 2},
		{"a negative half rounds down", SumOf(-3), 2, -2},
		{"below a half rounds down", SumOf(4), 3, 1},
		{"a mean of sums past int64 is exact", Product(MaxSum, 1100).Add(50_000_000), 1102, 8_983_666_061_751_361},
		{"no customers give 0", SumOf(5), 0, 0},
	}
	for _, tt := range tests {
		if got := tt.sum.Mean(tt.n); got != tt.want {
			t.Errorf("%s: Mean = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestCheckAmountAcceptsZeroToTheLargestAmount(t *testing.T) {
	for m, ok := range map[Micros]bool{0: true, 1: true, MaxAmount: true, MaxAmount + 1: false, -1: false, math.MaxInt64: false} {
		if err := CheckAmount(m); (err == nil) != ok {
			t.Errorf("CheckAmount(%d) = %v, want ok %v", m, err, ok)
		}
	}
	// The decimal bound of the schemas is the largest amount of
	// MaxAmountDigits integer digits, and MaxMinorUnits is within it in a
	// currency without minor units.
	nines := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = '9'
		}
		return string(b)
	}
	if m, err := ParseDecimal(nines(MaxAmountDigits) + ".999999"); err != nil || m != MaxAmount {
		t.Errorf("%d nines with six fraction digits are %d (%v), want MaxAmount %d", MaxAmountDigits, m, err, MaxAmount)
	}
	if m, err := Parse([]byte(nines(MaxAmountDigits)), "JPY"); err != nil || CheckAmount(m) != nil || MaxMinorUnits != m/1_000_000 {
		t.Errorf("MaxMinorUnits %d in yen is %d micros (%v), want within MaxAmount", MaxMinorUnits, m, err)
	}
	if MaxSum >= 1<<53 || MaxSum < MaxAmount {
		t.Errorf("MaxSum %d must be exact as a double (below 2^53) and at least MaxAmount", MaxSum)
	}
}

func TestCeilDivAgreesWithBigIntegers(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 10000 {
		n := 1 + r.Int64N(1<<40)
		var s Sum
		for range 1 + r.IntN(4) {
			s = s.Plus(Product(Micros(r.Int64N(int64(MaxSum))), n/4+1))
		}
		want := new(big.Int).Add(s.Big(), big.NewInt(n-1))
		want.Quo(want, big.NewInt(n))
		if !want.IsInt64() {
			continue
		}
		if got := s.CeilDiv(n); int64(got) != want.Int64() {
			t.Fatalf("⌈%s / %d⌉ = %d, want %s", s.Big(), n, got, want)
		}
	}
}
