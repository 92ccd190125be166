package importer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestTheImportRecordOfManyOrdersIsSpreadOverShardsAndStillSkipsThem imports
// 1,000 orders of 1,000 customers: the record of what was written lands in
// at least 200 of the 256 shards (on a cluster, no master holds all of it),
// and importing the file again with 10 new orders writes those 10 only.
func TestTheImportRecordOfManyOrdersIsSpreadOverShardsAndStillSkipsThem(t *testing.T) {
	k := testenv.StartKafka(t)
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	const source = "/import/shop"
	im, err := importer.New(importer.Config{Source: source, Currency: "USD"}, w, rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	orders := func(n int) string {
		var b strings.Builder
		b.WriteString("order_id,customer_id,time,total\n")
		for i := range n {
			fmt.Fprintf(&b, "o-%04d,cust-%04d,2024-03-01,5.00\n", i, i)
		}
		return b.String()
	}
	sum, err := im.Import(ctx, strings.NewReader(orders(1000)), importer.CSV)
	if err != nil || sum.Written != 1000 {
		t.Fatalf("first import: %v (%v), want 1000 written", sum, err)
	}
	shards := testenv.Keys(t, rdb, "import:*")
	if len(shards) < 200 {
		t.Errorf("the record of 1000 orders is in %d keys, want at least 200 shards", len(shards))
	}
	for _, i := range []int{0, 1, 500, 999} {
		id := importer.EventID(source, fmt.Sprintf("o-%04d", i), false)
		if v := rdb.HGet(ctx, importer.DoneKey(source, id), id).Val(); v != "1" {
			t.Errorf("order o-%04d is not recorded in its shard: %q", i, v)
		}
	}
	again, err := im.Import(ctx, strings.NewReader(orders(1010)), importer.CSV)
	if err != nil || again.Written != 10 || again.Skipped != 1000 {
		t.Fatalf("second import: %v (%v), want 10 written, 1000 already imported", again, err)
	}
	if msgs := k.ReadTopic(t, event.TopicPurchase, 1010, 10*time.Second); len(msgs) != 1010 {
		t.Errorf("%d orders on the topic, want each of the 1010 once", len(msgs))
	}
}
