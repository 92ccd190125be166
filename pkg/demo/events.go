package demo

import (
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/stream"
)

// messages returns the events of s, received at s.At, as live events (not
// backfill): the consents first, then the orders.
func (s step) messages() (consents, orders []kafka.Message, err error) {
	for _, o := range s.Firsts {
		m, err := consentMessage(o, s.At)
		if err != nil {
			return nil, nil, err
		}
		consents = append(consents, m)
	}
	for _, o := range s.Orders {
		m, err := orderMessage(o, s.At)
		if err != nil {
			return nil, nil, err
		}
		orders = append(orders, m)
	}
	return consents, orders, nil
}

// consentMessage is the identify event by which the customer of their first
// order first consents to every channel, a minute before it, so that the
// campaigns may send to them.
func consentMessage(first Order, received time.Time) (kafka.Message, error) {
	data := map[string]any{"user_id": first.Customer, "consent": map[string]bool{"email": true, "sms": true, "push": true, "line": true}}
	return message(event.TopicIdentify, "consent-"+first.Customer, event.Identify, first.Time.Add(-time.Minute), first.Customer, received, data)
}

// orderMessage is the purchase event of o, with the id the importer gives
// the row (importer.EventID).
func orderMessage(o Order, received time.Time) (kafka.Message, error) {
	data := map[string]any{"user_id": o.Customer, "order_id": o.ID, "total": o.Total, "currency": Currency, "channel": event.ChannelWeb}
	return message(event.TopicPurchase, importer.EventID(Source, o.ID, false), event.OrderCompleted, o.Time, o.Customer, received, data)
}

func message(topic, id, typ string, at time.Time, customer string, received time.Time, data any) (kafka.Message, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return kafka.Message{}, err
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource(Source)
	e.SetType(typ)
	e.SetTime(at)
	e.SetDataSchema(event.SchemaURL(typ))
	e.SetExtension(event.ExtPartitionKey, customer)
	e.SetExtension(event.ExtChannel, event.ChannelWeb)
	e.SetExtension(event.ExtReceivedAt, received.UTC().Format(time.RFC3339Nano))
	if err := e.SetData(cloudevents.ApplicationJSON, json.RawMessage(b)); err != nil {
		return kafka.Message{}, fmt.Errorf("event %s: %w", id, err)
	}
	return stream.ToMessage(topic, e)
}
