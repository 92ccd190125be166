package api

import "math"

// z95 is the standard normal quantile of 0.975: 95% two-sided intervals.
const z95 = 1.959963984540054

// Wilson returns the Wilson score interval of a proportion k/n at z. For n = 0
// it returns the whole [0, 1].
func Wilson(k, n int64, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf, z2 := float64(k)/float64(n), float64(n), z*z
	center := (p + z2/(2*nf)) / (1 + z2/nf)
	half := z / (1 + z2/nf) * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return max(0, center-half), min(1, center+half)
}

// Newcombe returns the difference p1 − p2 of two proportions k1/n1 and k2/n2
// and its confidence interval by Newcombe's hybrid score method (method 10 of
// Newcombe 1998, "Interval estimation for the difference between independent
// proportions"), built from each proportion's Wilson interval. Unlike the
// normal approximation it stays inside [−1, 1] and behaves at rates near 0 or
// 1, where campaign conversion rates are.
func Newcombe(k1, n1, k2, n2 int64, z float64) (d, lo, hi float64) {
	p1, p2 := rate(k1, n1), rate(k2, n2)
	l1, u1 := Wilson(k1, n1, z)
	l2, u2 := Wilson(k2, n2, z)
	d = p1 - p2
	lo = d - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2))
	hi = d + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))
	return d, lo, hi
}

func rate(k, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(k) / float64(n)
}
