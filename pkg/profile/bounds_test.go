package profile_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestSumsOfOneCustomerStayExactBeyondInt64: 10,000 orders at the largest
// total (about 1e19 micros, past int64 and far past the 2^53 that Lua
// numbers hold exactly), then refunds of all but 5.00 of it: lifetime spend
// and M are 5.00 exactly, whatever the order of arrival. (Redis refused the
// lifetime increment past int64, and Lua summed M in doubles.)
func TestSumsOfOneCustomerStayExactBeyondInt64(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	store := newStore(t, rdb, "sf")
	ctx := context.Background()
	const n = 10_000
	var ops []profile.Op
	for i := range n {
		ops = append(ops, order(t, "big", fmt.Sprintf("o%d", i), day(-1), "999999999.999999"))
		total := "999999999.999999"
		if i == n-1 {
			total = "999999994.999999" // the last refund leaves 5.00
		}
		ops = append(ops, ev(t, fmt.Sprintf("r%d", i), event.OrderRefunded, "big", day(-0.5), fmt.Sprintf(`{"user_id":"big","order_id":"o%d","total":%q,"currency":"USD"}`, i, total)))
	}
	// Every order first, then every refund: the running lifetime sum passes
	// 1e19 micros on the way.
	for _, part := range [][]profile.Op{evens(ops), odds(ops)} {
		for i := 0; i < len(part); i += 2000 {
			if _, err := store.Write(ctx, t0, part[i:min(i+2000, len(part))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	ps, err := store.Evaluate(ctx, t0, []string{"big"})
	if err != nil {
		t.Fatal(err)
	}
	if p := ps[0]; p.Orders != n || p.Lifetime != 5_000_000 || p.Values.M != 5_000_000 || p.Values.F != n {
		t.Errorf("%d orders, lifetime %d, F %d, M %d; want %d orders, lifetime and M 5.00 exactly", p.Orders, p.Lifetime, p.Values.F, p.Values.M, n)
	}
}

func evens[T any](xs []T) (out []T) {
	for i := 0; i < len(xs); i += 2 {
		out = append(out, xs[i])
	}
	return out
}

func odds[T any](xs []T) (out []T) {
	for i := 1; i < len(xs); i += 2 {
		out = append(out, xs[i])
	}
	return out
}
