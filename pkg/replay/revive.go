package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/segment"
	"github.com/segflow/segflow/pkg/stream"
)

// reviver turns dead letters whose original is valid now back into events.
type reviver struct {
	v        *event.Validator
	currency string
}

func newReviver(currency string) (*reviver, error) {
	v, err := event.NewValidator()
	if err != nil {
		return nil, err
	}
	return &reviver{v: v, currency: currency}, nil
}

// revive returns the original of a dead letter as a message for its topic,
// with its original id and event time, if the whole pipeline would accept it
// now: it is valid against the current schemas and the profile-updater
// applies it (profile.OpOf: currency, bounds).
func (rv *reviver) revive(it item) (m kafka.Message, id string, err error) {
	if it.err != nil {
		return kafka.Message{}, "", it.err
	}
	if it.ev.Type() != event.Rejected {
		return kafka.Message{}, "", fmt.Errorf("type %s is not a dead letter", it.ev.Type())
	}
	var d event.DeadLetter
	if err := json.Unmarshal(it.ev.Data(), &d); err != nil {
		return kafka.Message{}, "", fmt.Errorf("dead letter: %w", err)
	}
	raw := []byte(d.Raw)
	if len(raw) == 0 {
		raw = []byte(d.RawText)
	}
	var orig cloudevents.Event
	switch d.Format {
	case "cloudevents":
		err = json.Unmarshal(raw, &orig)
	case "segment":
		orig, err = segment.ToEvent(raw, time.Time{}, segment.Options{Source: d.Source, DefaultCurrency: rv.currency, ReceivedAt: d.ReceivedAt})
	case "kafka":
		m := kafka.Message{Value: raw, Key: it.msg.Key}
		for k, v := range d.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
		orig, err = stream.FromMessage(m)
	default:
		err = fmt.Errorf("format %q cannot be replayed", d.Format)
	}
	if err != nil {
		return kafka.Message{}, "", err
	}
	topic, err := event.Topic(orig.Type())
	if err != nil {
		return kafka.Message{}, "", err
	}
	if err := rv.v.Validate(orig.Type(), orig.Data()); err != nil {
		return kafka.Message{}, "", err
	}

	var ids struct {
		UserID      string `json:"user_id"`
		AnonymousID string `json:"anonymous_id"`
		Channel     string `json:"channel"`
	}
	if err := json.Unmarshal(orig.Data(), &ids); err != nil {
		return kafka.Message{}, "", err
	}
	ext := orig.Extensions()
	if ext[event.ExtPartitionKey] == nil {
		// Anonymous ids are not resolved to the user they may be linked to.
		customer := event.CustomerID(ids.UserID, ids.AnonymousID)
		if customer == "" {
			return kafka.Message{}, "", errors.New("no customer")
		}
		orig.SetExtension(event.ExtPartitionKey, customer)
	}
	if orig.Time().IsZero() {
		orig.SetTime(d.ReceivedAt)
	}
	if ext[event.ExtChannel] == nil {
		ch := ids.Channel
		if !event.IsChannel(ch) {
			ch = event.ChannelWeb
		}
		orig.SetExtension(event.ExtChannel, ch)
	}
	if ext[event.ExtReceivedAt] == nil && !d.ReceivedAt.IsZero() {
		orig.SetExtension(event.ExtReceivedAt, d.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	if _, err := profile.OpOf(orig, rv.currency); err != nil {
		return kafka.Message{}, "", err
	}
	m, err = stream.ToMessage(topic, orig)
	return m, orig.ID(), err
}
