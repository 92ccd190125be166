package importer_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

const ordersCSV = `Order ID,Customer ID,Time,Total,Currency,Items,Type
A-1,alice,2024-03-01 10:00:00,12.50,USD,"[{""sku"":""MUG"",""quantity"":2}]",
A-2,alice,2024-03-05,7,USD,,
B-1,bob,2024-03-02T08:30:00+01:00,100.00,USD,,
B-1,bob,2024-03-02T08:30:00+01:00,100.00,USD,,
B-1,bob,2024-03-09,40.00,USD,,refund
C-1,carol,yesterday,5.00,USD,,
C-2,,2024-03-03,5.00,USD,,
C-3,carol,2024-03-03,5.5.0,USD,,
C-4,carol,2024-03-03,5.00,usd,,
C-5,carol,2024-03-03,5.00,USD,,gift
`

func TestImportWritesEachGoodRowOnceAndReportsEveryBadRowByLine(t *testing.T) {
	k := testenv.StartKafka(t)
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	im, err := importer.New(importer.Config{Source: "/import/shop"}, w, rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sum, err := im.Import(ctx, strings.NewReader(ordersCSV), importer.CSV)
	if err != nil {
		t.Fatal(err)
	}
	// Lines 2-4 and 6 are good orders and a refund; line 5 repeats line 4.
	if sum.Rows != 10 || sum.Written != 4 || sum.Skipped != 1 {
		t.Errorf("summary %v, want 10 rows: 4 written, 1 already imported", sum)
	}
	var lines []int
	for _, e := range sum.Errors {
		lines = append(lines, e.Line)
	}
	if want := []int{7, 8, 9, 10, 11}; !slices.Equal(lines, want) {
		t.Errorf("errors on lines %v (%v), want %v", lines, sum.Errors, want)
	}
	for _, e := range sum.Errors {
		if !strings.HasPrefix(e.Error(), "line ") {
			t.Errorf("error %q does not start with its line", e)
		}
	}

	msgs := k.ReadTopic(t, event.TopicPurchase, 4, 10*time.Second)
	if len(msgs) != 4 {
		t.Fatalf("%d messages on the purchase topic, want 4", len(msgs))
	}
	type got struct {
		typ, key string
		at       time.Time
		total    string
	}
	byID := map[string]got{}
	for _, m := range msgs {
		e, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UserID  string          `json:"user_id"`
			OrderID string          `json:"order_id"`
			Total   json.RawMessage `json:"total"`
		}
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			t.Fatal(err)
		}
		if d.UserID != string(m.Key) || e.Source() != "/import/shop" {
			t.Errorf("event %s: user %q keyed %q from %s", e.ID(), d.UserID, m.Key, e.Source())
		}
		byID[e.ID()] = got{typ: e.Type(), key: string(m.Key), at: e.Time().UTC(), total: string(d.Total)}
	}
	want := map[string]got{
		importer.EventID("/import/shop", "A-1", false): {event.OrderCompleted, "alice", time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), `"12.50"`},
		importer.EventID("/import/shop", "A-2", false): {event.OrderCompleted, "alice", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), `"7"`},
		importer.EventID("/import/shop", "B-1", false): {event.OrderCompleted, "bob", time.Date(2024, 3, 2, 7, 30, 0, 0, time.UTC), `"100.00"`},
		importer.EventID("/import/shop", "B-1", true):  {event.OrderRefunded, "bob", time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), `"40.00"`},
	}
	for id, w := range want {
		if g, ok := byID[id]; !ok || g.typ != w.typ || g.key != w.key || !g.at.Equal(w.at) || g.total != w.total {
			t.Errorf("event %s: got %+v (present %v), want %+v", id, g, ok, w)
		}
	}

	// The same file again writes nothing.
	again, err := im.Import(ctx, strings.NewReader(ordersCSV), importer.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if again.Written != 0 || again.Skipped != 5 || len(again.Errors) != 5 {
		t.Errorf("second import: %v, want 0 written, 5 already imported, 5 errors", again)
	}
	if n := len(k.ReadTopic(t, event.TopicPurchase, 4, time.Second)); n != 4 {
		t.Errorf("%d messages on the purchase topic after the second import, want still 4", n)
	}
}

func TestImportReadsJSONLines(t *testing.T) {
	k := testenv.StartKafka(t)
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	im, err := importer.New(importer.Config{Currency: "GBP"}, w, rdb)
	if err != nil {
		t.Fatal(err)
	}
	in := `{"order_id":"536365","customer_id":"17850","time":"2010-12-01T08:26:00Z","total":"139.12","items":[{"sku":"85123A","quantity":6}]}

{"order_id":"536366","user_id":"17850","time":"2010-12-01T08:28:00Z","total":2210}
{"order_id":"536367","customer_id":"13047","time":"2010-12-01T08:34:00Z","total":12.5}
not json
`
	sum, err := im.Import(context.Background(), strings.NewReader(in), importer.JSONLines)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 4 || sum.Written != 2 || len(sum.Errors) != 2 || sum.Errors[0].Line != 4 || sum.Errors[1].Line != 5 {
		t.Fatalf("summary %v %v, want 4 rows, 2 written, errors on lines 4 (a float total) and 5", sum, sum.Errors)
	}
	msgs := k.ReadTopic(t, event.TopicPurchase, 2, 10*time.Second)
	for _, m := range msgs {
		e, _ := stream.FromMessage(m)
		var d map[string]any
		_ = json.Unmarshal(e.Data(), &d)
		if d["currency"] != "GBP" || string(m.Key) != "17850" {
			t.Errorf("event %s keyed %s: currency %v, want GBP for 17850", e.ID(), m.Key, d["currency"])
		}
	}
}
