package collector_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

// segmentOrder is a Segment Order Completed message of user u.
func segmentOrder(id, user string) string {
	return fmt.Sprintf(`{"type":"track","messageId":%q,"userId":%q,"event":"Order Completed","properties":{"order_id":"o-%s","total":10,"products":[{"product_id":"P1","price":10,"quantity":1}]}}`, id, user, id)
}

// bigEvent is a Segment track message larger than Kafka's default message
// limit.
func bigEvent(id string) string {
	return fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"u-big","event":"Video Played","properties":{"blob":%q}}`, id, strings.Repeat("x", stream.DefaultMaxMessageBytes+1000))
}

func TestAnEventTooLargeForKafkaIsRejectedAndTheRestWrittenOnce(t *testing.T) {
	e := start(t)
	var msgs []string
	for i := range 5 {
		msgs = append(msgs, segmentOrder(fmt.Sprint("ord-", i), fmt.Sprint("u-", i)))
	}
	msgs = append(msgs, bigEvent("big-1"))
	body := `{"batch":[` + strings.Join(msgs, ",") + `]}`

	for _, attempt := range []struct {
		name                 string
		accepted, duplicates int
	}{{"first", 5, 0}, {"retry", 0, 5}} {
		code, a, _ := e.post(t, request{path: "/v1/batch", key: webKey, body: body})
		if code != 200 || a.Accepted != attempt.accepted || a.Duplicates != attempt.duplicates || len(a.Rejected) != 1 {
			t.Fatalf("%s: %d %+v, want 200 with %d accepted, %d duplicates and 1 rejected", attempt.name, code, a, attempt.accepted, attempt.duplicates)
		}
		r := a.Rejected[0]
		if r.Index != 5 || r.ID != "big-1" || len(r.Errors) != 1 || r.Errors[0].Rule != "maxBytes" || !strings.Contains(r.Errors[0].Message, fmt.Sprint(stream.DefaultMaxMessageBytes)) {
			t.Errorf("%s: rejected %+v, want index 5 refused for its size, naming the limit", attempt.name, r)
		}
	}
	got := e.byID(t, 5, event.TopicPurchase, event.TopicBrowse)
	for i := range 5 {
		if n := len(got[fmt.Sprint("ord-", i)]); n != 1 {
			t.Errorf("ord-%d written %d times, want once", i, n)
		}
	}
	dead := e.kafka.ReadTopic(t, event.TopicInvalid, 1, 5*time.Second)
	for _, m := range dead {
		if len(m.Value) > stream.DefaultMaxMessageBytes || header(m, "ce_subject") != "big-1" {
			t.Errorf("dead letter of %q is %d bytes", header(m, "ce_subject"), len(m.Value))
		}
	}
}

func TestASingleEventTooLargeForKafkaIsTooLarge(t *testing.T) {
	e := start(t)
	code, a, _ := e.post(t, request{path: "/v1/track", key: webKey, body: bigEvent("big-2")})
	if code != 413 || len(a.Rejected) != 1 || a.Rejected[0].Errors[0].Rule != "maxBytes" {
		t.Fatalf("got %d %+v, want 413 naming the size limit", code, a)
	}
}

func TestTheMessageLimitIsConfigurable(t *testing.T) {
	e := start(t, func(c *collector.Config) { c.MaxMessageBytes = 2048 })
	video := `{"type":"track","messageId":"mid-1","userId":"u","event":"Video Played","properties":{"blob":"` + strings.Repeat("x", 2048) + `"}}`
	code, a, _ := e.post(t, request{path: "/v1/batch", key: webKey, body: `{"batch":[` + segmentOrder("ord-1", "u") + `,` + video + `]}`})
	if code != 200 || a.Accepted != 1 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 || !strings.Contains(a.Rejected[0].Errors[0].Message, "2048") {
		t.Fatalf("got %d %+v, want the order accepted and index 1 refused naming the limit 2048", code, a)
	}
}

// TestEventsKafkaDidNotAcknowledgeAreRetriedAloneWithoutDuplicates fails
// every write to one partition of the purchase topic while a batch of orders
// spread over all of them is sent: the answer must say which orders were not
// written, and the retry must write those and only those.
func TestEventsKafkaDidNotAcknowledgeAreRetriedAloneWithoutDuplicates(t *testing.T) {
	e := start(t, func(c *collector.Config) { c.WriteTimeout = 500 * time.Millisecond })
	const failing = 1
	var down atomic.Bool
	down.Store(true)
	e.kafka.Cluster.ControlKey((&kmsg.ProduceRequest{}).Key(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.kafka.Cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if !down.Load() || len(req.Topics) != 1 || req.Topics[0].Topic != event.TopicPurchase ||
			len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != failing {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		st := kmsg.NewProduceResponseTopic()
		st.Topic = event.TopicPurchase
		sp := kmsg.NewProduceResponseTopicPartition()
		sp.Partition = failing
		sp.ErrorCode = kerr.NotEnoughReplicas.Code
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		return resp, nil, true
	})

	var msgs []string
	var onFailing []int // expected independently: where the writer's balancer puts each key
	for i := range 12 {
		user := fmt.Sprint("u-", i)
		msgs = append(msgs, segmentOrder(fmt.Sprint("ord-", i), user))
		if (kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(user)}, 0, 1, 2) == failing {
			onFailing = append(onFailing, i)
		}
	}
	if len(onFailing) == 0 || len(onFailing) == 12 {
		t.Fatalf("orders on partition %d: %v; want some, not all", failing, onFailing)
	}
	body := `{"batch":[` + strings.Join(msgs, ",") + `]}`

	code, a, h := e.post(t, request{path: "/v1/batch", key: webKey, body: body})
	if code != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("partition down: %d %+v, want 503 with Retry-After", code, a)
	}
	if a.Accepted != 12-len(onFailing) || !slices.Equal(a.Unwritten, onFailing) {
		t.Fatalf("partition down: accepted %d unwritten %v, want %d accepted and %v unwritten", a.Accepted, a.Unwritten, 12-len(onFailing), onFailing)
	}
	kept := e.byID(t, 12-len(onFailing), event.TopicPurchase)
	for _, i := range onFailing {
		if len(kept[fmt.Sprint("ord-", i)]) != 0 {
			t.Errorf("ord-%d is on the topic, but the answer says it was not written", i)
		}
	}

	down.Store(false)
	code, a, _ = e.post(t, request{path: "/v1/batch", key: webKey, body: body})
	if code != 200 || a.Accepted != len(onFailing) || a.Duplicates != 12-len(onFailing) {
		t.Fatalf("retry: %d %+v, want %d accepted and %d duplicates", code, a, len(onFailing), 12-len(onFailing))
	}
	for id, ms := range e.byID(t, 12, event.TopicPurchase) {
		if len(ms) != 1 {
			t.Errorf("%s written %d times", id, len(ms))
		}
	}
}
