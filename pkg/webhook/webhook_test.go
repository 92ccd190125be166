package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/webhook"
)

// triggers starts a broker holding a trigger of customer cust-1 for each
// id on the triggers topic, and returns it and a writer to it.
func triggers(t *testing.T, ids ...string) (*testenv.Kafka, *kafka.Writer) {
	t.Helper()
	k := testenv.StartKafka(t, stream.Topic{Name: "triggers", Partitions: 1}, stream.Topic{Name: "triggers.undelivered", Partitions: 1})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	for _, id := range ids {
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
	return k, w
}

func TestTriggersAreSignedRetriedAndDeadLetteredAfterTheLastAttempt(t *testing.T) {
	k, w := triggers(t, "flaky", "broken")
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

// The test vector of the Standard Webhooks specification.
func TestTheStandardSignatureIsTheSpecificationsVector(t *testing.T) {
	key, err := webhook.Key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.SignStandard(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	if _, err := webhook.New(webhook.Config{URL: "http://x", Secret: "whsec_not base64!"}, nil, zaptest.NewLogger(t)); err == nil {
		t.Error("a whsec_ secret that is not base64 was accepted")
	}
}

func TestADeliveryCarriesTheStandardWebhooksHeaders(t *testing.T) {
	k, w := triggers(t, "trigger-7")
	const secret = "whsec_c2VjcmV0LW9mLXRoZS1yZWNlaXZlcg=="
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		sec, _ := strconv.ParseInt(ts, 10, 64)
		// Verified as a receiver would, with the spec's steps.
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		switch {
		case id != "trigger-7":
			got <- fmt.Errorf("webhook-id %q, want the CloudEvent id", id)
		case time.Since(time.Unix(sec, 0)).Abs() > time.Minute:
			got <- fmt.Errorf("webhook-timestamp %q is not now", ts)
		case r.Header.Get("webhook-signature") != want:
			got <- fmt.Errorf("webhook-signature %q, want %q", r.Header.Get("webhook-signature"), want)
		default:
			got <- nil
		}
	}))
	defer srv.Close()
	d, err := webhook.New(webhook.Config{Brokers: k.Brokers, URL: srv.URL, Secret: secret}, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case err := <-got:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing was delivered")
	}
}
