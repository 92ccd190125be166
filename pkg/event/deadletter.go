package event

import (
	"encoding/json"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// DeadLetter is the data of a Rejected event on TopicInvalid: what was
// refused, why, and the original as it came, so that it can be inspected and
// replayed.
type DeadLetter struct {
	Reason string       `json:"reason"`
	Errors []FieldError `json:"errors"`
	// Format is what Raw is: "cloudevents" or "segment" (as sent to the
	// collector), or "kafka" (a message's value, with its Headers).
	Format     string            `json:"format"`
	Source     string            `json:"source"`
	Index      int               `json:"index"`
	ReceivedAt time.Time         `json:"received_at"`
	Headers    map[string]string `json:"headers,omitempty"`
	// Raw is the original when it is JSON; RawText otherwise.
	Raw     json.RawMessage `json:"raw,omitempty"`
	RawText string          `json:"raw_text,omitempty"`
}

// SetRaw keeps raw as it came: as JSON when it is JSON, else as text.
func (d *DeadLetter) SetRaw(raw []byte) {
	if json.Valid(raw) {
		d.Raw = json.RawMessage(raw)
	} else {
		d.RawText = string(raw)
	}
}

// Event wraps d as a Rejected CloudEvent from source, keyed by customer when
// it is known, about the event subject (its id, when it has one).
func (d DeadLetter) Event(source, customer, subject string) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(uuid.NewString())
	e.SetSource(source)
	e.SetType(Rejected)
	e.SetTime(d.ReceivedAt)
	if customer != "" {
		e.SetExtension(ExtPartitionKey, customer)
	}
	if subject != "" {
		e.SetSubject(subject)
	}
	err := e.SetData(cloudevents.ApplicationJSON, d)
	return e, err
}
