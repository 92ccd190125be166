package testenv

import (
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

// Event returns a customer event as the collector writes it: a CloudEvent
// from source /test keyed by customer, with data the JSON object data,
// received at its time at.
func Event(id, typ, customer string, at time.Time, data string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("/test")
	e.SetType(typ)
	e.SetTime(at)
	e.SetExtension(event.ExtPartitionKey, customer)
	e.SetExtension(event.ExtReceivedAt, at.UTC().Format(time.RFC3339Nano))
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = []byte(data)
	return e
}

// Message returns Event as a Kafka message on its type's topic.
func Message(t testing.TB, id, typ, customer string, at time.Time, data string) kafka.Message {
	t.Helper()
	topic, err := event.Topic(typ)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.ToMessage(topic, Event(id, typ, customer, at, data))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
