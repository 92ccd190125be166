package audience

import (
	"fmt"
	"strings"
	"testing"
)

// longOr is "n0 OR n1 OR …" of n names, built without Parse's limits: the
// left-deep tree a long OR chain parses to.
func longOr(n int) Expr {
	var e Expr = Name{"n0"}
	for i := 1; i < n; i++ {
		e = Or{e, Name{fmt.Sprint("n", i)}}
	}
	return e
}

// deepNest nests n levels, NOT and AND of an OR in turn.
func deepNest(n int) Expr {
	var e Expr = Name{"a"}
	for i := range n {
		if i%2 == 0 {
			e = Not{e}
		} else {
			e = And{Name{"b"}, Or{e, Name{"c"}}}
		}
	}
	return e
}

// BenchmarkString measures the canonical form of ever longer expressions:
// the time per name stays flat as the expression grows (it grew with the
// length when each node concatenated its children's strings).
func BenchmarkString(b *testing.B) {
	for _, n := range []int{MaxNames, 1_000, 10_000, 100_000} {
		e := longOr(n)
		b.Run(fmt.Sprintf("or/names=%d", n), func(b *testing.B) {
			for b.Loop() {
				_ = e.String()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/name")
		})
	}
	for _, n := range []int{MaxDepth, 1_000, 10_000} {
		e := deepNest(n)
		b.Run(fmt.Sprintf("nested/depth=%d", n), func(b *testing.B) {
			for b.Loop() {
				_ = e.String()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/level")
		})
	}
}

// BenchmarkParse measures parsing at the limits: the longest expression
// Parse accepts, and one far beyond them, which it refuses at once.
func BenchmarkParse(b *testing.B) {
	names := make([]string, MaxNames)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	atLimit := strings.Join(names, " OR ")
	hostile := strings.Repeat("a OR ", 100_000) + "a"
	for name, s := range map[string]string{"at-limit": atLimit, "hostile-100k-names": hostile} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_, _ = Parse(s)
			}
		})
	}
}
