package segment

import (
	"encoding/json"
	"time"

	"github.com/segflow/segflow/pkg/event"
)

// Batch is a decoded request body: the messages to map with ToEvent.
type Batch struct {
	// WriteKey is the writeKey the body carries, if any. Clients usually send
	// it as the Basic auth user name instead.
	WriteKey string
	// SentAt is the batch's sentAt, when the client sent it; zero if absent.
	// Pass it to ToEvent.
	SentAt time.Time
	// Messages are the messages, each a JSON object as the client sent it
	// except that a single call's message has its type filled in and a
	// batch's messages have the batch context merged into their own. An
	// element of a batch that is not an object is kept as is, for ToEvent to
	// reject on its own without failing the rest of the batch.
	Messages []json.RawMessage
}

// Decode reads the body of POST /v1/{call}. For a single call the body is one
// message whose type defaults to call. For batch and import it is
// {"batch": [...], "sentAt", "writeKey", "context"}, and the batch-level
// context is merged under each message's own, the message's values winning.
//
// Errors are *event.InvalidError; "" names the body itself.
func Decode(call string, body []byte) (Batch, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Batch{}, event.Invalid("", "json", "the request body must be a JSON object")
	}
	r := &reader{}
	root := object{r: r, fields: top}
	b := Batch{WriteKey: root.str("writeKey", 0)}
	switch call {
	case "track", "page", "screen", "identify", "alias", "group":
		msg := json.RawMessage(body)
		if !root.has("type") {
			top["type"], _ = json.Marshal(call)
			msg = mustMarshal(top)
		}
		b.Messages = []json.RawMessage{msg}
	case "batch", "import":
		b.SentAt, _ = root.time("sentAt")
		if !root.has("batch") {
			r.fail("/batch", "required", "is required: the array of messages")
		}
		msgs := root.arr("batch", maxBatch)
		ctx := root.raw("context")
		if ctx != nil && kind(ctx) != '{' {
			r.fail("/context", "type", "must be an object")
			ctx = nil
		}
		b.Messages = make([]json.RawMessage, len(msgs))
		for i, msg := range msgs {
			b.Messages[i] = withContext(msg, ctx)
		}
	default:
		return Batch{}, event.Invalid("", "call", "unknown call %q: want track, page, screen, identify, alias, group, batch or import", call)
	}
	if err := r.err(); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// maxBatch bounds the messages of one request; Segment's own limit of 500 KB
// a batch allows a few thousand small ones.
const maxBatch = 10000

// withContext merges a batch's context under a message's own.
func withContext(msg, ctx json.RawMessage) json.RawMessage {
	if ctx == nil || kind(msg) != '{' {
		return msg
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return msg
	}
	m["context"] = merge(ctx, m["context"])
	return mustMarshal(m)
}

// merge merges the JSON objects under and over recursively, over's values
// winning. When either is not an object, over wins, unless it is absent or
// null.
func merge(under, over json.RawMessage) json.RawMessage {
	if isNull(over) {
		return under
	}
	var u, o map[string]json.RawMessage
	if kind(under) != '{' || kind(over) != '{' || json.Unmarshal(under, &u) != nil || json.Unmarshal(over, &o) != nil {
		return over
	}
	for k, v := range u {
		o[k] = merge(v, o[k])
	}
	return mustMarshal(o)
}

// mustMarshal encodes an object of values that were decoded from JSON, which
// cannot fail.
func mustMarshal(m map[string]json.RawMessage) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic("segment: re-encode decoded JSON: " + err.Error())
	}
	return b
}
