package rfm

import (
	"math"
	"math/bits"
	"slices"
	"sort"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

// DefaultWindow is the RFM window W that F and M look back over: 365 days.
const DefaultWindow = 365 * 24 * time.Hour

// The 8 classic segments, named by whether R, F and M are high or low.
const (
	ImportantValue   = "important_value"   // R high, F high, M high (重要價值)
	ImportantDevelop = "important_develop" // R high, F low, M high (重要發展)
	ImportantKeep    = "important_keep"    // R low, F high, M high (重要保持)
	ImportantRetain  = "important_retain"  // R low, F low, M high (重要挽留)
	GeneralValue     = "general_value"     // R high, F high, M low (一般價值)
	GeneralDevelop   = "general_develop"   // R high, F low, M low (一般發展)
	GeneralKeep      = "general_keep"      // R low, F high, M low (一般保持)
	GeneralRetain    = "general_retain"    // R low, F low, M low (一般挽留)
)

// Segments lists the 8 segments in the order of the table in
// docs/segmentation.md.
var Segments = []string{
	ImportantValue, ImportantDevelop, ImportantKeep, ImportantRetain,
	GeneralValue, GeneralDevelop, GeneralKeep, GeneralRetain,
}

// Values are one customer's RFM values as of a time T with window W.
type Values struct {
	R int   // whole days since the last purchase: floor((T - last)/24h)
	F int   // completed orders in (T-W, T]
	M int64 // order totals minus refunds in (T-W, T], in micros, from 0 to money.MaxSum
}

// Buyer reports whether the customer is a buyer at T (F ≥ 1), and so is
// scored and counts in the Population.
func (v Values) Buyer() bool { return v.F >= 1 }

// Population is what scoring needs to know about all buyers at T.
type Population struct {
	Buyers int64     // number of buyers
	SumR   int64     // sum of the buyers' R
	SumF   int64     // sum of the buyers' F
	SumM   money.Sum // sum of the buyers' M, in micros: 128 bits, as it may exceed int64
}

// Scores are one customer's quintile scores (1–5) and segment. A non-buyer's
// Scores are all zero, with an empty Segment.
type Scores struct {
	R, F, M int
	Segment string
}

// Score is the quintile score 1 + floor(5 × better / buyers), where better is
// the number of buyers with a strictly smaller value (F, M) or a strictly
// larger R. It returns 0, meaning not scored, when buyers ≤ 0. A better outside
// [0, buyers−1], which no consistent population has, is clamped into it, so
// the result is always 1–5 when buyers > 0.
func Score(better, buyers int64) int {
	if buyers <= 0 {
		return 0
	}
	better = max(0, min(better, buyers-1))
	// 5 × better may exceed 64 bits; the quotient is below 5 and hi < buyers.
	hi, lo := bits.Mul64(5, uint64(better))
	q, _ := bits.Div64(hi, lo, uint64(buyers))
	return 1 + int(q)
}

// Segment returns v's segment among the buyers p, comparing each dimension
// with the buyers' mean exactly: R is high if R × Buyers ≤ SumR, F if
// F × Buyers ≥ SumF, M if M × Buyers ≥ SumM, with 128-bit products. It returns
// "" (not scored) if v is not a buyer or p has no buyers.
func Segment(v Values, p Population) string {
	if !v.Buyer() || p.Buyers <= 0 {
		return ""
	}
	rHigh := cmpProduct(int64(v.R), p.Buyers, p.SumR) <= 0
	fHigh := cmpProduct(int64(v.F), p.Buyers, p.SumF) >= 0
	mHigh := money.Product(money.Micros(v.M), p.Buyers).Cmp(p.SumM) >= 0
	// Segments is ordered M, then R, then F, each high before low.
	i := 0
	if !mHigh {
		i += 4
	}
	if !rHigh {
		i += 2
	}
	if !fHigh {
		i++
	}
	return Segments[i]
}

// Compute scores a whole population at once: vs[i] gets Scores[i]. Non-buyers
// get zero Scores and do not count in the Population. It sorts each dimension
// and counts strictly smaller (F, M) or strictly larger (R) values by binary
// search, so ties are exact, in O(n log n). It is the reference that the
// incremental scoring is checked against, and serves small offline jobs.
//
// The sum of M is exact (a money.Sum); the sums of R and F saturate at
// MaxInt64, which no real population reaches (ΣF is at most the number of
// orders stored, ΣR about 20,000 days per buyer).
func Compute(vs []Values) ([]Scores, Population) {
	var p Population
	var rs, fs, ms []int64
	for _, v := range vs {
		if !v.Buyer() {
			continue
		}
		p.Buyers++
		p.SumR = satAdd(p.SumR, int64(v.R))
		p.SumF = satAdd(p.SumF, int64(v.F))
		p.SumM = p.SumM.Add(money.Micros(v.M))
		rs = append(rs, int64(v.R))
		fs = append(fs, int64(v.F))
		ms = append(ms, v.M)
	}
	slices.Sort(rs)
	slices.Sort(fs)
	slices.Sort(ms)
	// smaller is the number of sorted values strictly below x; larger, above.
	smaller := func(sorted []int64, x int64) int64 {
		return int64(sort.Search(len(sorted), func(i int) bool { return sorted[i] >= x }))
	}
	larger := func(sorted []int64, x int64) int64 {
		return int64(len(sorted) - sort.Search(len(sorted), func(i int) bool { return sorted[i] > x }))
	}
	out := make([]Scores, len(vs))
	for i, v := range vs {
		if !v.Buyer() {
			continue
		}
		out[i] = Scores{
			R:       Score(larger(rs, int64(v.R)), p.Buyers),
			F:       Score(smaller(fs, int64(v.F)), p.Buyers),
			M:       Score(smaller(ms, v.M), p.Buyers),
			Segment: Segment(v, p),
		}
	}
	return out, p
}

// Order is an order, or a refund, at a time. Amount is in micros; a refund's
// Amount is the (positive) amount refunded.
type Order struct {
	Time   time.Time
	Amount int64
}

// Of returns a customer's Values at T from their order and refund history and
// the time of their last purchase ever (the zero time if none):
//
//   - R counts from lastPurchase, which may be before the window; it is 0 if
//     there is no purchase, or if lastPurchase is after T (an event from the
//     future counts as a purchase at T).
//   - F counts the orders with a time in (T−window, T]; orders outside it, and
//     refunds, do not count.
//   - M sums those orders' amounts minus the refunds with a time in
//     (T−window, T], whatever order they refund, clamped to
//     [0, money.MaxSum]; the sum is exact in between.
//
// A window ≤ 0 means DefaultWindow.
func Of(orders []Order, refunds []Order, lastPurchase time.Time, T time.Time, window time.Duration) Values {
	if window <= 0 {
		window = DefaultWindow
	}
	var v Values
	if !lastPurchase.IsZero() && lastPurchase.Before(T) {
		v.R = int(T.Sub(lastPurchase) / (24 * time.Hour))
	}
	from := T.Add(-window)
	in := func(t time.Time) bool { return t.After(from) && !t.After(T) }
	var m money.Sum
	for _, o := range orders {
		if in(o.Time) {
			v.F++
			m = m.Add(money.Micros(o.Amount))
		}
	}
	for _, r := range refunds {
		if in(r.Time) {
			m = m.Sub(money.Micros(r.Amount))
		}
	}
	v.M = int64(m.Cap())
	return v
}

// cmpProduct returns the sign of a × b − s, computed exactly.
func cmpProduct(a, b, s int64) int {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(abs(a), abs(b))
	if hi == 0 && lo == 0 {
		neg = false
	}
	switch {
	case !neg && s < 0:
		return 1
	case neg && s >= 0:
		return -1
	case !neg: // a × b ≥ 0 and s ≥ 0
		return cmp128(hi, lo, uint64(s))
	default: // a × b < 0 and s < 0: the larger magnitude is the smaller number
		return -cmp128(hi, lo, abs(s))
	}
}

// cmp128 compares the unsigned 128-bit hi:lo with x.
func cmp128(hi, lo, x uint64) int {
	switch {
	case hi > 0 || lo > x:
		return 1
	case lo < x:
		return -1
	default:
		return 0
	}
}

// abs returns |x|, which for math.MinInt64 is 1<<63.
func abs(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

// satAdd returns a + b for b ≥ 0, or MaxInt64 if that overflows.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
