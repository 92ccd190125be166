package money

import (
	"math"
	"math/big"
	"math/bits"
)

// Sum is an exact sum of amounts in micros: a signed 128-bit integer, which
// a sum of fewer than 2^64 amounts cannot overflow. The zero value is 0, and
// Sums compare with ==.
type Sum struct {
	hi int64
	lo uint64
}

// LimbSize splits an amount into the two integer fields (limbs) Redis keeps
// a running sum in, so that neither can overflow (see bounds.go).
const LimbSize = 1_000_000_000

// Limbs splits m into hi × LimbSize + lo micros, each with m's sign.
func Limbs(m Micros) (hi, lo int64) { return int64(m) / LimbSize, int64(m) % LimbSize }

// JoinLimbs returns hi × LimbSize + lo micros.
func JoinLimbs(hi, lo int64) Sum { return Product(Micros(hi), LimbSize).Add(Micros(lo)) }

// SumOf returns the Sum of the amounts ms.
func SumOf(ms ...Micros) Sum {
	var s Sum
	for _, m := range ms {
		s = s.Add(m)
	}
	return s
}

// Add returns s + m.
func (s Sum) Add(m Micros) Sum {
	lo, carry := bits.Add64(s.lo, uint64(m), 0)
	return Sum{hi: s.hi + int64(carry) + int64(m)>>63, lo: lo} // m>>63 sign-extends m
}

// Sub returns s − m.
func (s Sum) Sub(m Micros) Sum {
	lo, borrow := bits.Sub64(s.lo, uint64(m), 0)
	return Sum{hi: s.hi - int64(borrow) - int64(m)>>63, lo: lo}
}

// Plus returns s + t.
func (s Sum) Plus(t Sum) Sum {
	lo, carry := bits.Add64(s.lo, t.lo, 0)
	return Sum{hi: s.hi + t.hi + int64(carry), lo: lo}
}

// Product returns m × n exactly.
func Product(m Micros, n int64) Sum {
	hi, lo := bits.Mul64(abs(int64(m)), abs(n))
	p := Sum{hi: int64(hi), lo: lo}
	if (m < 0) != (n < 0) {
		p = Sum{}.minus(p)
	}
	return p
}

// minus returns s − t.
func (s Sum) minus(t Sum) Sum {
	lo, borrow := bits.Sub64(s.lo, t.lo, 0)
	return Sum{hi: s.hi - t.hi - int64(borrow), lo: lo}
}

// CeilDiv returns ⌈s / n⌉ for s ≥ 0 and n > 0 whose quotient fits in
// Micros (as a mean of amounts does).
func (s Sum) CeilDiv(n int64) Micros {
	q, r := bits.Div64(uint64(s.hi), s.lo, uint64(n))
	if r > 0 {
		q++
	}
	return Micros(q)
}

// Cmp returns −1, 0 or +1 as s is less than, equal to or greater than t.
func (s Sum) Cmp(t Sum) int {
	switch {
	case s.hi < t.hi:
		return -1
	case s.hi > t.hi:
		return 1
	case s.lo < t.lo:
		return -1
	case s.lo > t.lo:
		return 1
	}
	return 0
}

// Cap returns s limited to [0, MaxSum].
func (s Sum) Cap() Micros {
	switch {
	case s.hi < 0:
		return 0
	case s.hi > 0 || s.lo > uint64(MaxSum):
		return MaxSum
	}
	return Micros(s.lo)
}

// Int64 returns s and whether it fits in an int64.
func (s Sum) Int64() (int64, bool) {
	if (s.hi == 0 && s.lo <= math.MaxInt64) || (s.hi == -1 && s.lo > math.MaxInt64) {
		return int64(s.lo), true
	}
	return 0, false
}

// Big returns s as a big.Int.
func (s Sum) Big() *big.Int {
	v := new(big.Int).SetInt64(s.hi)
	v.Lsh(v, 64)
	return v.Add(v, new(big.Int).SetUint64(s.lo))
}

// SumFromBig returns v as a Sum, and false if it needs more than 128 bits.
func SumFromBig(v *big.Int) (Sum, bool) {
	if v.BitLen() > 127 {
		return Sum{}, false
	}
	var u big.Int
	u.And(v, new(big.Int).SetUint64(math.MaxUint64))
	hi := new(big.Int).Rsh(v, 64) // floor division: the two's complement high word
	return Sum{hi: hi.Int64(), lo: u.Uint64()}, true
}

// Mean returns s / n rounded half away from zero, to the micro; 0 if n ≤ 0.
// The mean of n amounts is an amount; any other saturates.
func (s Sum) Mean(n int64) Micros {
	if n <= 0 {
		return 0
	}
	num := s.Big()
	num.Mul(num, big.NewInt(2))
	neg := num.Sign() < 0
	num.Abs(num)
	num.Add(num, big.NewInt(n))
	num.Quo(num, big.NewInt(2*n))
	if neg {
		num.Neg(num)
	}
	if !num.IsInt64() { // a mean of Micros is a Micros; saturate otherwise
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return Micros(num.Int64())
}

// String renders s as a canonical decimal in major units, like Micros.String.
func (s Sum) String() string {
	return format(s.Big().String(), fracDigits, 0)
}

// FormatSum renders s in major units with at least the minor digits of
// currency, like Format.
func FormatSum(s Sum, currency string) string {
	return format(s.Big().String(), fracDigits, Exponent(currency))
}

// abs returns |x|, which for math.MinInt64 is 1<<63.
func abs(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}
