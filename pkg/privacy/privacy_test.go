package privacy_test

import (
	"context"
	"fmt"
	"maps"
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

// TestTheErasuresOfManyCustomersAreSpreadOverShardsAndReadBack records 1,000
// erasures, each at its own time: they land in at least 200 of the 256
// shards of the record (on a cluster, no master holds all of it), every
// shard is recognised by IsRecordKey, and Erased gives each erased
// customer's time and none for the others, asked together.
func TestTheErasuresOfManyCustomersAreSpreadOverShardsAndReadBack(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	reg := privacy.New(rdb)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	want := map[string]time.Time{}
	var asked []string
	for i := range 1000 {
		c := fmt.Sprintf("cust-%04d", i)
		want[c] = at.Add(time.Duration(i) * time.Second)
		if err := reg.Record(ctx, c, want[c]); err != nil {
			t.Fatal(err)
		}
		asked = append(asked, c, fmt.Sprintf("kept-%04d", i))
	}
	shards := testenv.Keys(t, rdb, "privacy:*")
	if len(shards) < 200 {
		t.Errorf("1000 erasures are in %d keys, want at least 200 shards", len(shards))
	}
	for _, k := range shards {
		if !privacy.IsRecordKey(k) {
			t.Errorf("%s is not recognised as a shard of the record", k)
		}
	}
	for _, k := range []string{"privacy:{#audit}", "privacy:{erased}", "sf:{#erased.1.2}"} {
		if privacy.IsRecordKey(k) {
			t.Errorf("%s is taken for a shard of the record", k)
		}
	}
	erased, err := reg.Erased(ctx, asked)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(erased, want, time.Time.Equal) {
		t.Errorf("Erased gives %d customers, want the %d erased at their times", len(erased), len(want))
	}
}
