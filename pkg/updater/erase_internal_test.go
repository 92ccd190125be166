package updater

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// An erasure recorded while a batch is applied (after the batch looked for
// erasures) deleted the profile before the batch wrote it again: the updater
// erases it once more and publishes nothing of it.
func TestABatchThatRacesWithAnErasureLeavesNothingOfTheCustomer(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	store := profile.New(rdb, profile.Config{})
	u, err := New(Config{Brokers: []string{"unused"}}, store, nil, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ops []profile.Op
	for _, e := range []struct{ id, customer string }{{"o1", "nia"}, {"o2", "lou"}} {
		op, err := profile.OpOf(testenv.Event(e.id, event.OrderCompleted, e.customer, at, `{"order_id":"`+e.id+`","total":"3.00","currency":"USD"}`), "USD")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	// The batch found no erasure and applied both orders; then nia's
	// erasure was recorded (and its deletion ran before the batch's writes).
	changes, _, err := store.Apply(ctx, at, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("%d changes, want one per customer", len(changes))
	}
	if err := privacy.New(rdb).Record(ctx, "nia", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	left, err := u.eraseAgain(ctx, store, ops, changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Customer != "lou" {
		t.Errorf("changes left to publish: %+v, want lou's only", left)
	}
	for k, v := range testenv.Dump(t, rdb, "sf") {
		if strings.Contains(k+v, "nia") {
			t.Errorf("left of nia: %s = %s", k, v)
		}
	}
	if ps, err := store.Evaluate(ctx, at, []string{"lou"}); err != nil || ps[0].Orders != 1 {
		t.Errorf("lou: %+v, %v; want the order kept", ps, err)
	}
}
