package api

import (
	"math"
	"testing"
)

// The expected intervals are the published ones: Newcombe (1998), "Two-sided
// confidence intervals for the single proportion" (Wilson score method, no
// continuity correction) and "Interval estimation for the difference between
// independent proportions" (method 10), rounded to 4 decimals there.
func TestWilsonMatchesPublishedIntervals(t *testing.T) {
	for _, tc := range []struct {
		k, n   int64
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		lo, hi := Wilson(tc.k, tc.n, z95)
		if math.Abs(lo-tc.lo) > 5e-5 || math.Abs(hi-tc.hi) > 5e-5 {
			t.Errorf("Wilson(%d/%d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestNewcombeMatchesPublishedIntervals(t *testing.T) {
	for _, tc := range []struct {
		k1, n1, k2, n2 int64
		lo, hi         float64
	}{
		{56, 70, 48, 80, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.1705, 0.8090},
		{5, 56, 0, 29, -0.0381, 0.1926},
		{0, 10, 0, 20, -0.1611, 0.2775},
	} {
		d, lo, hi := Newcombe(tc.k1, tc.n1, tc.k2, tc.n2, z95)
		if math.Abs(d-(float64(tc.k1)/float64(tc.n1)-float64(tc.k2)/float64(tc.n2))) > 1e-12 {
			t.Errorf("difference %v", d)
		}
		if math.Abs(lo-tc.lo) > 5e-5 || math.Abs(hi-tc.hi) > 5e-5 {
			t.Errorf("Newcombe(%d/%d − %d/%d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k1, tc.n1, tc.k2, tc.n2, lo, hi, tc.lo, tc.hi)
		}
	}
}
