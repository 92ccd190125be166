package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/webhook"
)

func TestTriggersAreSignedRetriedAndDeadLetteredAfterTheLastAttempt(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "triggers", Partitions: 1}, stream.Topic{Name: "triggers.undelivered", Partitions: 1})
	w := stream.NewWriter(k.Brokers, 0)
	defer w.Close()
	for _, id := range []string{"flaky", "broken"} {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("/trigger/test")
		e.SetType("segflow.trigger")
		e.SetExtension(event.ExtPartitionKey, "cust-1")
		_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"campaign": "test"})
		m, err := stream.ToMessage("triggers", e)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	calls := map[string]int{}
	delivered := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.SignatureHeader) != webhook.Sign("s3cret", body) {
			t.Errorf("bad signature %q", r.Header.Get(webhook.SignatureHeader))
		}
		var e cloudevents.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("body is not a structured CloudEvent: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		calls[e.ID()]++
		if e.ID() == "broken" || calls[e.ID()] < 3 {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered[e.ID()]++
	}))
	defer srv.Close()
	d, err := webhook.New(webhook.Config{Brokers: k.Brokers, URL: srv.URL, Secret: "s3cret", MaxAttempts: 4, Backoff: 10 * time.Millisecond}, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	dead := k.ReadTopic(t, "triggers.undelivered", 1, 20*time.Second)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if delivered["flaky"] != 1 || calls["flaky"] != 3 || calls["broken"] != 4 {
		t.Errorf("calls %v delivered %v: want flaky delivered on its 3rd attempt and broken tried 4 times", calls, delivered)
	}
	if len(dead) != 1 || string(dead[0].Key) != "cust-1" {
		t.Fatalf("dead letters %v, want the broken trigger", dead)
	}
	e, err := stream.FromMessage(dead[0])
	if err != nil || e.ID() != "broken" {
		t.Errorf("dead letter %v (%v), want the broken trigger as it was", e, err)
	}
}
