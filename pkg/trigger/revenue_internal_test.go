package trigger

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/testenv"
)

// Revenue of 10,000 orders at the largest amount is past int64 micros:
// counting it must not fail, and it is reported exactly up to money.MaxSum.
func TestCampaignRevenueCannotOverflow(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	cfg, err := campaign.Parse([]byte(`
campaigns:
  - name: welcome
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    channel: email
    action: {type: message}
    attribution: 8760h
`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg, rdb, nil, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const orders = 10_000
	for c := range orders / 100 {
		customer := fmt.Sprint("c-", c)
		pipe := rdb.Pipeline()
		expose(ctx, pipe, "welcome", customer, "default", Sent, at)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for o := range 100 {
			data := map[string]any{"total": "999999999.999999", "currency": "USD"}
			if err := e.convert(ctx, customer, fmt.Sprint("o-", o), at.Add(time.Hour), data); err != nil {
				t.Fatalf("conversion %d of %s: %v", o, customer, err)
			}
		}
	}
	res, err := e.Results(ctx, "welcome")
	if err != nil || len(res) != 1 {
		t.Fatalf("results %+v, %v", res, err)
	}
	total := new(big.Int).Mul(big.NewInt(int64(money.MaxAmount)), big.NewInt(orders))
	if total.IsInt64() {
		t.Fatalf("the test's total %s fits int64: it proves nothing", total)
	}
	want := int64(money.MaxSum) // the total is past it: reported capped
	if total.Cmp(big.NewInt(want)) < 0 {
		want = total.Int64()
	}
	if r := res[0]; r.Converted != orders || r.Revenue != want {
		t.Errorf("converted %d, revenue %d; want %d and %d (of %s)", r.Converted, r.Revenue, orders, want, total)
	}
}
