package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestImportOrdersCommandPrintsRowErrorsAndASummary(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	path := filepath.Join(t.TempDir(), "orders.csv")
	csv := "order_id,customer_id,time,total,currency\n1,alice,2024-01-02,10.00,USD\n2,bob,not a time,5.00,USD\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"orders", "--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn", path}
	var out bytes.Buffer
	if err := importOrders(context.Background(), args, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), path+":line 3: time \"not a time\"") || !strings.Contains(out.String(), "2 rows: 1 written, 0 already imported, 1 errors") {
		t.Errorf("output:\n%s", out.String())
	}
	k.ReadTopic(t, event.TopicPurchase, 1, 10*time.Second)
	out.Reset()
	if err := importOrders(context.Background(), args, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 rows: 0 written, 1 already imported, 1 errors") {
		t.Errorf("second import output:\n%s", out.String())
	}
}
