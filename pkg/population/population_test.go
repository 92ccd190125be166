package population_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/rfm"
)

const day = int64(24 * time.Hour / time.Millisecond)

// recency counts whole days from last to T the long way.
func recency(T, last int64) int {
	if last > T {
		return 0
	}
	r := 0
	for last+int64(r+1)*day <= T {
		r++
	}
	return r
}

// Scores of every customer, after a random history of puts, replacements
// and removals, equal rfm.Compute over the entries that remain, at several
// T: before, among and after the last purchases; and each customer's entry
// is the last put, unless removed since.
func TestScoresEqualScoringTheWholePopulationAtOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	T0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for round := range 20 {
		p := population.New()
		held := map[string]population.Entry{}
		n := 1 + rng.IntN(300)
		for i := range 3 * n {
			c := fmt.Sprintf("c%d", rng.IntN(n))
			if rng.IntN(10) == 0 {
				p.Remove(c)
				delete(held, c)
				continue
			}
			e := population.Entry{
				Version: int64(i), At: T0,
				F:    rng.IntN(4), // a quarter are not buyers
				M:    int64(rng.IntN(5)) * 1_000_000 * int64(1+rng.IntN(3)),
				Last: T0 - int64(rng.IntN(400))*day/3 + int64(rng.IntN(3))*day, // some after T0
			}
			if !p.Put(c, e) {
				t.Fatalf("a newer entry was refused")
			}
			held[c] = e
		}
		if p.Len() != len(held) {
			t.Fatalf("round %d: %d customers, want %d", round, p.Len(), len(held))
		}
		for i := range n {
			c := fmt.Sprintf("c%d", i)
			if got, ok := p.Get(c); got != held[c] || ok != (held[c] != population.Entry{}) {
				t.Fatalf("round %d: %s holds %+v %v, want %+v", round, c, got, ok, held[c])
			}
		}
		for _, T := range []int64{T0 - 200*day, T0, T0 + 3*day + 17} {
			var ids []string
			var vals []rfm.Values
			for c, e := range held {
				v := rfm.Values{F: e.F, M: e.M}
				if e.F >= 1 {
					v.R = recency(T, e.Last)
				}
				ids, vals = append(ids, c), append(vals, v)
			}
			want, wantPop := rfm.Compute(vals)
			sc := p.Scorer(time.UnixMilli(T))
			if sc.Population != wantPop {
				t.Fatalf("round %d T %d: population %+v, want %+v", round, T, sc.Population, wantPop)
			}
			for i, v := range vals {
				if got := sc.Score(v); got != want[i] {
					t.Fatalf("round %d T %d: %s %+v scores %+v, want %+v", round, T, ids[i], v, got, want[i])
				}
			}
		}
	}
}

func TestAnOlderOrRepeatedEntryChangesNothing(t *testing.T) {
	p := population.New()
	e := population.Entry{Version: 5, At: 1000, F: 2, M: 30, Last: 900}
	p.Put("c", e)
	for _, old := range []population.Entry{
		e,
		{Version: 4, At: 5000, F: 9, M: 99, Last: 900},
		{Version: 5, At: 999, F: 9, M: 99, Last: 900},
	} {
		if p.Put("c", old) {
			t.Errorf("Put(%+v) over %+v took effect", old, e)
		}
	}
	if got, _ := p.Get("c"); got != e {
		t.Errorf("entry %+v, want %+v", got, e)
	}
	if sc := p.Scorer(time.UnixMilli(1000)); sc.Population.Buyers != 1 || sc.Population.SumF != 2 {
		t.Errorf("population %+v, want one buyer with F 2", sc.Population)
	}
}

func BenchmarkPut(b *testing.B) {
	p := population.New()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, 1_000_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%07d", i)
	}
	b.ResetTimer()
	for i := range b.N {
		p.Put(ids[i%len(ids)], population.Entry{Version: int64(i), F: 1 + rng.IntN(5), M: int64(rng.IntN(1e9)), Last: int64(rng.IntN(1e12))})
	}
}

// BenchmarkHeld measures what holding a population of 1M customers costs
// the process: the heap per customer, and the time of a full garbage
// collection while it is held (gc-ms), which every cycle of a process that
// scores customers pays. Beside it, in the same run, the same ids and
// entries in a map[string]Entry (map-: the obvious Go structure, a pointer
// per id for the collector to follow) and a collection with nothing held
// (empty-gc-ms: the floor).
func BenchmarkHeld(b *testing.B) {
	const n = 1_000_000
	entry := func(i int) population.Entry {
		return population.Entry{Version: 1, At: 1, F: i % 4, M: int64(i) * 7919 % 1e9, Last: int64(i) * 104729 % 1e12}
	}
	// heldBy returns the heap that build's result takes, and the mean time
	// of a full collection while it is held.
	heldBy := func(build func() any) (bytes float64, gc time.Duration) {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		held := build()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		t0 := time.Now()
		for range b.N {
			runtime.GC()
		}
		gc = time.Since(t0) / time.Duration(b.N)
		runtime.KeepAlive(held)
		return float64(m1.HeapAlloc) - float64(m0.HeapAlloc), gc
	}
	setBytes, setGC := heldBy(func() any {
		p := population.New()
		for i := range n {
			p.Put(fmt.Sprintf("customer-%07d", i), entry(i))
		}
		return p
	})
	mapBytes, mapGC := heldBy(func() any {
		m := map[string]population.Entry{}
		for i := range n {
			m[fmt.Sprintf("customer-%07d", i)] = entry(i)
		}
		return m
	})
	_, emptyGC := heldBy(func() any { return nil })
	b.ReportMetric(setBytes/n, "heap-bytes/customer")
	b.ReportMetric(mapBytes/n, "map-heap-bytes/customer")
	b.ReportMetric(float64(setGC.Microseconds())/1e3, "gc-ms")
	b.ReportMetric(float64(mapGC.Microseconds())/1e3, "map-gc-ms")
	b.ReportMetric(float64(emptyGC.Microseconds())/1e3, "empty-gc-ms")
}
