package importer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestRowsWithAmountsOrTimesOutOfBoundsAreRowErrorsNamingTheBound(t *testing.T) {
	k := testenv.StartKafka(t)
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	im, err := importer.New(importer.Config{Currency: "USD", Now: func() time.Time { return now }, MaxFuture: time.Hour}, w, rdb)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"order_id":"ok-max","customer_id":"a","time":"2026-11-01","total":"999999999.999999"}`,
		`{"order_id":"ok-cents","customer_id":"a","time":"2026-11-20T11:00:00Z","total":999999999}`,
		`{"order_id":"ok-epoch","customer_id":"a","time":"1970-01-01","total":"1"}`,
		`{"order_id":"neg","customer_id":"a","time":"2026-11-01","total":"-50.00"}`,
		`{"order_id":"neg-refund","customer_id":"a","time":"2026-11-01","total":"-50.00","type":"refund"}`,
		`{"order_id":"huge","customer_id":"a","time":"2026-11-01","total":"9000000000000.00"}`,
		`{"order_id":"huge-cents","customer_id":"a","time":"2026-11-01","total":1000000000}`,
		`{"order_id":"9999","customer_id":"a","time":"9999-12-31","total":"5.00"}`,
		`{"order_id":"skew","customer_id":"a","time":"2026-11-20T11:00:01Z","total":"5.00"}`,
		`{"order_id":"1969","customer_id":"a","time":"1969-12-31T23:59:59Z","total":"5.00"}`,
	}, "\n")
	sum, err := im.Import(context.Background(), strings.NewReader(in), importer.JSONLines)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 10 || sum.Written != 3 {
		t.Errorf("summary %v, want 10 rows, the 3 at the bounds written", sum)
	}
	want := map[int]string{
		4: "999999999.999999", 5: "999999999.999999", 6: "999999999.999999", 7: "999999999",
		8: "1h0m0s", 9: "1h0m0s", 10: "1970-01-01T00:00:00Z",
	}
	if len(sum.Errors) != len(want) {
		t.Fatalf("errors %v, want one on each of lines 4 to 10", sum.Errors)
	}
	for _, e := range sum.Errors {
		if bound, ok := want[e.Line]; !ok || !strings.Contains(e.Error(), bound) {
			t.Errorf("error %q, want one on line %d naming %s", e, e.Line, bound)
		}
	}
}

func TestRowsWhoseTextIsNotUTF8AreRowErrors(t *testing.T) {
	k := testenv.StartKafka(t)
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	im, err := importer.New(importer.Config{Currency: "USD"}, w, rdb)
	if err != nil {
		t.Fatal(err)
	}
	// Two customers whose ids differ only in a byte that is not UTF-8: read
	// as U+FFFD, they would be one customer.
	in := "order_id,customer_id,time,total\n" +
		"o-1,cust-\xff,2026-11-01,5.00\n" +
		"o-2,cust-\xfe,2026-11-01,5.00\n" +
		"o-\xff,cust-3,2026-11-01,5.00\n" +
		"o-4,cust-4,2026-11-01,5.00\n"
	sum, err := im.Import(context.Background(), strings.NewReader(in), importer.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 1 || len(sum.Errors) != 3 {
		t.Fatalf("summary %v, want o-4 written and a row error on each other row", sum)
	}
	for _, e := range sum.Errors {
		if !strings.Contains(e.Error(), "UTF-8") {
			t.Errorf("error %q, want it to say the text is not UTF-8", e)
		}
	}
}
