package coupon

import (
	"maps"
	"math"
	"slices"
	"time"
)

// Times to redeem are counted in logarithmic buckets (as DDSketch does):
// bucket i holds the times t, in seconds and at least 1, with
// gamma^(i-1) < t <= gamma^i. Reporting a bucket as 2·gamma^i/(gamma+1) is
// within (gamma−1)/(gamma+1), under 1%, of every time in it, so a median
// read from the buckets is that close to the true one; a year needs under
// 800 buckets, whatever the number of redemptions.
const gamma = 1.02

// RelativeAccuracy bounds the relative error of Result.MedianToRedeem.
const RelativeAccuracy = (gamma - 1) / (gamma + 1)

// bucket returns the bucket of a time to redeem.
func bucket(d time.Duration) int {
	s := max(1, d.Seconds())
	return int(math.Ceil(math.Log(s) / math.Log(gamma)))
}

// represent returns the time bucket i stands for.
func represent(i int) time.Duration {
	return time.Duration(2 * math.Pow(gamma, float64(i)) / (gamma + 1) * float64(time.Second))
}

// median returns the lower median of the times counted in buckets (bucket
// -> count), or 0 for none.
func median(buckets map[int]int64) time.Duration {
	var n int64
	for _, c := range buckets {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := (n + 1) / 2
	for _, i := range slices.Sorted(maps.Keys(buckets)) {
		if rank -= buckets[i]; rank <= 0 {
			return represent(i)
		}
	}
	return 0 // not reached
}
