package privacy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestAnErasureIsRecordedWithoutTheCustomerIDAndDropsOnlyEarlierEvents(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	reg := privacy.New(rdb)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := reg.Record(ctx, "alice@example.com", at); err != nil {
		t.Fatal(err)
	}
	// An older record does not move the time back.
	if err := reg.Record(ctx, "alice@example.com", at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	dump := testenv.Dump(t, rdb, "privacy")
	if len(dump) != 1 {
		t.Fatalf("the record is %d keys, want 1: %v", len(dump), dump)
	}
	for k, v := range dump {
		if strings.Contains(k+v, "alice") {
			t.Errorf("the record keeps the customer id: %s = %s", k, v)
		}
	}
	erased, err := reg.Erased(ctx, []string{"alice@example.com", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(erased) != 1 || !erased["alice@example.com"].Equal(at) {
		t.Fatalf("erased = %v, want alice at %v only", erased, at)
	}
	for _, c := range []struct {
		customer string
		at       time.Time
		want     bool
	}{
		{"alice@example.com", at.Add(-time.Minute), true},
		{"alice@example.com", at, true},
		{"alice@example.com", at.Add(time.Millisecond), false},
		{"bob", at.Add(-time.Minute), false},
	} {
		if got := privacy.Dropped(erased, c.customer, c.at); got != c.want {
			t.Errorf("Dropped(%s, %v) = %v, want %v", c.customer, c.at, got, c.want)
		}
	}
}
