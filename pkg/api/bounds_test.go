package api_test

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/profile"
)

// TestSumsOfManyCustomersAtTheLargestAmountsAreExact: 1100 customers each
// spend ten times the largest order total, so each one's M and lifetime
// spend reach the cap of 9e9 units and their sum, 9.9e18 micros, is beyond
// int64 (which made rfm.Compute panic and every read of the population fail).
// Counts, members and CLV answer 200, with values worked out by hand and
// with math/big.
func TestSumsOfManyCustomersAtTheLargestAmountsAreExact(t *testing.T) {
	e := start(t, nil, nil)
	const whales = 1100
	var ops []profile.Op
	flush := func() {
		evs := ops
		ops = nil
		changes, _, err := e.store.Apply(context.Background(), T, evs)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Commit(context.Background(), changes); err != nil {
			t.Fatal(err)
		}
		if err := e.ix.Apply(context.Background(), changes); err != nil {
			t.Fatal(err)
		}
	}
	for i := range whales {
		for range 10 {
			op, err := profile.OpOf(e.order(fmt.Sprintf("w%04d", i), T.Add(-time.Hour), "999999999.999999"), "USD")
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		if len(ops) >= 1000 {
			flush()
		}
	}
	flush()
	// Two small buyers: s1 one order of 10.00 a day ago, s2 two of 20.00
	// five days ago.
	e.apply(t, e.order("s1", T.Add(-day(1)), "10.00"), e.order("s2", T.Add(-day(5)), "20.00"), e.order("s2", T.Add(-day(5)), "20.00"))

	// By hand: whales R 0, F 10, M 9e9 units (capped); s1 R 1, F 1, M 10;
	// s2 R 5, F 2, M 40. Mean R = 6/1102 < 1, mean F = 11003/1102 < 10,
	// mean M ≈ 8.98e9: whales are high in all three (important_value), s1 and
	// s2 low in all three (general_retain).
	var counts api.Counts
	e.get(t, "/v1/counts", &counts)
	if counts.Buyers != whales+2 || counts.Segments["important_value"] != whales || counts.Segments["general_retain"] != 2 {
		t.Errorf("counts: %d buyers, segments %v; want %d important_value and 2 general_retain", counts.Buyers, counts.Segments, whales)
	}
	var members api.Members
	e.get(t, "/v1/segments/general_retain/members", &members)
	if members.Total != 2 || fmt.Sprint(members.Members) != "[s1 s2]" {
		t.Errorf("general_retain members %+v, want s1 and s2", members)
	}

	var clv api.CLV
	e.get(t, "/v1/metrics/clv?limit=1", &clv)
	capMicros := big.NewInt(9_000_000_000_000_000)
	total := new(big.Int).Mul(capMicros, big.NewInt(whales))
	total.Add(total, big.NewInt(50_000_000))
	avg := new(big.Rat).SetFrac(total, big.NewInt(whales+2))
	wantTotal := units(total)
	wantAvg := units(roundHalfUp(avg))
	if clv.Overall.Customers != whales+2 || clv.Overall.Total != wantTotal || clv.Overall.Average != wantAvg {
		t.Errorf("overall CLV %+v, want %d customers, total %s, average %s", clv.Overall, whales+2, wantTotal, wantAvg)
	}
	if v := clv.Segments["important_value"]; v.Total != units(new(big.Int).Mul(capMicros, big.NewInt(whales))) || v.Average != "9000000000.00" {
		t.Errorf("important_value CLV %+v, want %d customers at the cap of 9000000000.00", v, whales)
	}
}

// units renders positive micros as major units with at least the two
// decimals of USD, as the API shows them.
func units(micros *big.Int) string {
	s := fmt.Sprintf("%07s", micros.String())
	s = s[:len(s)-6] + "." + s[len(s)-6:]
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return s
}

// TestAHugeOrderIsRefusedAndTheLargestMovesOthersOnlyThroughTheMean: an
// order of 9000000000000.00 (which made M negative and moved everyone's
// segment) is refused, so the updater dead-letters it; an order at the
// largest total counts exactly, and the others' segments are what the means
// of docs/segmentation.md give.
func TestAHugeOrderIsRefusedAndTheLargestMovesOthersOnlyThroughTheMean(t *testing.T) {
	e := start(t, nil, nil)
	if _, err := profile.OpOf(e.order("w", T.Add(-day(3)), "9000000000000.00"), "USD"); err == nil {
		t.Fatal("an order of 9000000000000.00 was accepted, want it refused as out of range")
	}
	e.apply(t,
		e.order("a", T.Add(-day(2)), "300.00"), e.order("a", T.Add(-day(40)), "100.00"),
		e.order("b", T.Add(-day(100)), "50.00"),
		e.order("w", T.Add(-day(3)), "999999999.999999"),
	)
	// By hand: a R 2, F 2, M 400; b R 100, F 1, M 50; w R 3, F 1,
	// M 999999999.999999. Means: R 35, F 4/3, M about 3.3e8. a: high R and
	// F, low M: general_value; b: low in all: general_retain; w: high R and
	// M, low F: important_develop.
	ps, err := e.store.Get(context.Background(), T, []string{"a", "b", "w"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"general_value", "general_retain", "important_develop"}
	for i, p := range ps {
		if p.Segment != want[i] {
			t.Errorf("%s: segment %q, want %q", p.Customer, p.Segment, want[i])
		}
	}
	if ps[2].Values.M != 999_999_999_999_999 || ps[2].Lifetime != 999_999_999_999_999 {
		t.Errorf("w: M %d, lifetime %d, want the order's 999999999.999999 exactly", ps[2].Values.M, ps[2].Lifetime)
	}
}

// roundHalfUp rounds a positive r to the micro, half up.
func roundHalfUp(r *big.Rat) *big.Int {
	num := new(big.Int).Mul(r.Num(), big.NewInt(2))
	num.Add(num, r.Denom())
	return num.Quo(num, new(big.Int).Mul(r.Denom(), big.NewInt(2)))
}
