package e2e

// The independent reference computation of RFM and NES that the end-to-end
// tests compare the pipeline against. It is written from the definitions in
// docs/segmentation.md alone, with the standard library only: no segflow package is
// imported or consulted, so that a misunderstanding shared with the
// pipeline's code cannot hide a bug. It is deliberately plain: per customer
// it collects the orders, scores by counting with a double loop, and compares
// means and cycles exactly with integers (math/big), never with floats.

import (
	"math/big"
	"time"
)

const day = 24 * time.Hour

// The defaults of docs/segmentation.md, which the tests check against.
const (
	defaultCycle = 30 * day
	minCycle     = 7 * day
	maxCycle     = 365 * day
)

type expected struct {
	R, F int // R: whole days since the last purchase (0 if none); F: orders in (T-W, T]
	M    int64
	// M: order totals minus refunds in (T-W, T], in micros (cents*10_000), not below 0

	RScore, FScore, MScore int    // 1..5 among buyers (F >= 1 at T); 0 for non-buyers
	Segment                string // one of the 8 segments; "" for non-buyers
	Stage                  string // NES: "prospect", "N", "E0", "S1", "S2", "S3"
	Orders                 int    // orders ever (n), Time <= T
	Cycle                  time.Duration
	// Cycle: mean interval between orders when n >= 2, else 30 days, clamped to
	// [7, 365] days. Reported truncated to the nanosecond; the stage itself is
	// decided with the exact rational mean.
}

// referenceProfiles computes every customer's expected profile at T, window W,
// from orders with Time <= T (later ones are ignored). Every customer with an
// order or refund at or before T is in the result (a customer with refunds
// only is a "prospect"). Rules, from docs/segmentation.md:
//   - refunds count by their own time: one inside the window lowers M even if
//     its order is older; refunds change neither F, n, the last purchase nor
//     the purchase cycle; an order counts even if it was later refunded;
//   - the same (ID, Refund) given twice counts once (exactly-once effect).
func referenceProfiles(orders []order, T time.Time, W time.Duration) map[string]expected {
	type history struct {
		purchases []time.Time // orders with Time <= T
		inWindow  int         // F
		windowSum int64       // Σ order cents − Σ refund cents in (T-W, T]
	}
	start := T.Add(-W) // exclusive
	hist := map[string]*history{}
	type key struct {
		id     string
		refund bool
	}
	done := map[key]bool{}
	for _, o := range orders {
		if o.Time.After(T) {
			continue
		}
		k := key{o.ID, o.Refund}
		if done[k] {
			continue
		}
		done[k] = true
		h := hist[o.Customer]
		if h == nil {
			h = &history{}
			hist[o.Customer] = h
		}
		inWindow := o.Time.After(start) // and not after T, checked above
		if o.Refund {
			if inWindow {
				h.windowSum -= o.Cents
			}
			continue
		}
		h.purchases = append(h.purchases, o.Time)
		if inWindow {
			h.inWindow++
			h.windowSum += o.Cents
		}
	}

	out := make(map[string]expected, len(hist))
	var buyers []string
	for c, h := range hist {
		var e expected
		e.Orders = len(h.purchases)
		e.F = h.inWindow
		if h.windowSum > 0 {
			e.M = h.windowSum * 10_000
		}
		e.Cycle = defaultCycle
		if e.Orders == 0 {
			e.Stage = "prospect"
			out[c] = e
			continue
		}
		first, last := h.purchases[0], h.purchases[0]
		for _, p := range h.purchases {
			if p.Before(first) {
				first = p
			}
			if p.After(last) {
				last = p
			}
		}
		g := T.Sub(last)
		e.R = int(g / day)

		// The cycle c as an exact fraction num/den (nanoseconds).
		num, den := int64(defaultCycle), int64(1)
		if e.Orders >= 2 {
			num, den = int64(last.Sub(first)), int64(e.Orders-1)
		}
		switch {
		case cmpProducts(num, 1, int64(minCycle), den) < 0: // num/den < 7 days
			num, den = int64(minCycle), 1
		case cmpProducts(num, 1, int64(maxCycle), den) > 0: // num/den > 365 days
			num, den = int64(maxCycle), 1
		}
		e.Cycle = time.Duration(num / den)
		// g <= k·c  ⇔  g·den <= k·num
		within := func(k int64) bool { return cmpProducts(int64(g), den, k, num) <= 0 }
		switch {
		case within(1) && e.Orders == 1:
			e.Stage = "N"
		case within(1):
			e.Stage = "E0"
		case within(2):
			e.Stage = "S1"
		case within(3):
			e.Stage = "S2"
		default:
			e.Stage = "S3"
		}
		out[c] = e
		if e.F >= 1 {
			buyers = append(buyers, c)
		}
	}

	// Scores and segments among buyers.
	n := int64(len(buyers))
	var sumR, sumF, sumM int64
	for _, c := range buyers {
		e := out[c]
		sumR += int64(e.R)
		sumF += int64(e.F)
		sumM += e.M
	}
	rs := make([]int64, len(buyers))
	fs := make([]int64, len(buyers))
	ms := make([]int64, len(buyers))
	for i, c := range buyers {
		e := out[c]
		rs[i], fs[i], ms[i] = int64(e.R), int64(e.F), e.M
	}
	for i, c := range buyers {
		var largerR, smallerF, smallerM int64
		for j := range buyers {
			if rs[j] > rs[i] {
				largerR++
			}
			if fs[j] < fs[i] {
				smallerF++
			}
			if ms[j] < ms[i] {
				smallerM++
			}
		}
		e := out[c]
		e.RScore = int(1 + 5*largerR/n)
		e.FScore = int(1 + 5*smallerF/n)
		e.MScore = int(1 + 5*smallerM/n)
		// high ⇔ R <= mean R, F >= mean F, M >= mean M; mean = sum/n.
		rHigh := cmpProducts(rs[i], n, sumR, 1) <= 0
		fHigh := cmpProducts(fs[i], n, sumF, 1) >= 0
		mHigh := cmpProducts(ms[i], n, sumM, 1) >= 0
		e.Segment = segmentName(rHigh, fHigh, mHigh)
		out[c] = e
	}
	return out
}

// segmentName is the table of the 8 classic RFM segments in
// docs/segmentation.md.
func segmentName(rHigh, fHigh, mHigh bool) string {
	switch {
	case rHigh && fHigh && mHigh:
		return "important_value"
	case rHigh && !fHigh && mHigh:
		return "important_develop"
	case !rHigh && fHigh && mHigh:
		return "important_keep"
	case !rHigh && !fHigh && mHigh:
		return "important_retain"
	case rHigh && fHigh && !mHigh:
		return "general_value"
	case rHigh && !fHigh && !mHigh:
		return "general_develop"
	case !rHigh && fHigh && !mHigh:
		return "general_keep"
	default:
		return "general_retain"
	}
}

// cmpProducts compares a·b with c·d exactly (no overflow): -1, 0 or +1.
func cmpProducts(a, b, c, d int64) int {
	var x, y big.Int
	x.Mul(big.NewInt(a), big.NewInt(b))
	y.Mul(big.NewInt(c), big.NewInt(d))
	return x.Cmp(&y)
}
