package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestImportOrdersCommandPrintsRowErrorsAndASummary(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	path := ordersFile(t, "1,alice,2024-01-02,10.00,USD\n2,bob,not a time,5.00,USD\n")
	args := []string{"orders", "--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn", path}
	var out bytes.Buffer
	if err := importOrders(context.Background(), args, &out, &out); !errors.Is(err, errRowsFailed) {
		t.Fatalf("an import with a failed row returned %v, want errRowsFailed (exit 1)", err)
	}
	if !strings.Contains(out.String(), path+":line 3: time \"not a time\"") || !strings.Contains(out.String(), "2 rows: 1 written, 0 already imported, 1 errors") {
		t.Errorf("output:\n%s", out.String())
	}
	k.ReadTopic(t, event.TopicPurchase, 1, 10*time.Second)
	out.Reset()
	if err := importOrders(context.Background(), args, &out, &out); !errors.Is(err, errRowsFailed) {
		t.Fatalf("the second import returned %v, want errRowsFailed", err)
	}
	if !strings.Contains(out.String(), "2 rows: 0 written, 1 already imported, 1 errors") {
		t.Errorf("second import output:\n%s", out.String())
	}
}

func TestReplayVerifyAndDropCommands(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range 5 {
		c := fmt.Sprint("cust-", i)
		msgs = append(msgs, testenv.Message(t, "o-"+c, event.OrderCompleted, c, at.AddDate(0, 0, i), fmt.Sprintf(`{"user_id":%q,"order_id":"1","total":"%d.00","currency":"USD"}`, c, 10+i)))
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	common := []string{"--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn", "--now", "2025-03-01T00:00:00Z"}
	ctx := context.Background()
	var out bytes.Buffer
	if err := replayCmd(ctx, append(common, "--into", "sf2"), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "replay into sf2: 5 read, 5 applied") {
		t.Errorf("replay output:\n%s", out.String())
	}
	out.Reset()
	if err := verifyCmd(ctx, append(common, "--against", "sf2"), &out, &out); err != nil {
		t.Errorf("verify against the rebuilt namespace: %v\n%s", err, out.String())
	}
	out.Reset()
	// Nothing was applied to the live namespace: every customer differs.
	if err := verifyCmd(ctx, common, &out, &out); !errors.Is(err, errDiffers) {
		t.Errorf("verify against an empty live namespace: %v, want errDiffers", err)
	}
	if !strings.Contains(out.String(), "cust-3 orders: sf=0 rebuilt=1") || !strings.Contains(out.String(), "5 customers compared, 5 differ") {
		t.Errorf("verify output:\n%s", out.String())
	}
	out.Reset()
	if err := replayCmd(ctx, append(common, "--into", "sf3", "--switch"), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "sf3 is live; sf stays until `segflow replay drop sf`") {
		t.Errorf("switch output:\n%s", out.String())
	}
	drop := []string{"drop", "--redis-addr", r.Addr, "--log-level", "warn"}
	if err := replayCmd(ctx, append(drop, "sf3"), &out, &out); err == nil {
		t.Error("dropping the live namespace was not refused")
	}
	out.Reset()
	if err := replayCmd(ctx, append(drop, "sf2"), &out, &out); err != nil || !strings.Contains(out.String(), "keys of namespace sf2") {
		t.Errorf("drop sf2: %v\n%s", err, out.String())
	}
	if left := testenv.Keys(t, r.Client(t), "sf2:*"); len(left) > 0 {
		t.Errorf("keys left of the dropped namespace: %v", left)
	}
}
