package segment

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
)

func TestDecodeSingleCalls(t *testing.T) {
	tests := []struct {
		name         string
		call         string
		body         string
		wantMsg      string
		wantWriteKey string
	}{
		{
			name:    "a track body gets the type of its endpoint",
			call:    "track",
			body:    `{"anonymousId":"a","messageId":"m","event":"Signed Up","properties":{"plan":"pro","seats":3.0}}`,
			wantMsg: `{"anonymousId":"a","messageId":"m","event":"Signed Up","properties":{"plan":"pro","seats":3.0},"type":"track"}`,
		},
		{
			name:    "a null type is filled in",
			call:    "page",
			body:    `{"anonymousId":"a","messageId":"m","type":null}`,
			wantMsg: `{"anonymousId":"a","messageId":"m","type":"page"}`,
		},
		{
			name:    "a body with its own type keeps it",
			call:    "screen",
			body:    `{"anonymousId":"a","messageId":"m","type":"screen","name":"Home"}`,
			wantMsg: `{"anonymousId":"a","messageId":"m","type":"screen","name":"Home"}`,
		},
		{
			name:         "a writeKey in the body is returned",
			call:         "identify",
			body:         `{"writeKey":"wk_123","userId":"u","messageId":"m"}`,
			wantMsg:      `{"writeKey":"wk_123","userId":"u","messageId":"m","type":"identify"}`,
			wantWriteKey: "wk_123",
		},
		{
			name:    "a group call decodes, for ToEvent to reject",
			call:    "group",
			body:    `{"userId":"u","messageId":"m","groupId":"acme"}`,
			wantMsg: `{"userId":"u","messageId":"m","groupId":"acme","type":"group"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Decode(tt.call, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Messages) != 1 {
				t.Fatalf("got %d messages, want 1", len(b.Messages))
			}
			sameJSON(t, b.Messages[0], tt.wantMsg)
			if b.WriteKey != tt.wantWriteKey {
				t.Errorf("WriteKey = %q, want %q", b.WriteKey, tt.wantWriteKey)
			}
			if !b.SentAt.IsZero() {
				t.Errorf("SentAt = %v, want zero for a single call", b.SentAt)
			}
		})
	}
}

// analyticsPythonBatch is a batch as analytics-python sends it to /v1/batch:
// sentAt at the batch level, the library in each message's context.
const analyticsPythonBatch = `{
  "batch": [
    {"type": "track", "event": "Order Completed", "userId": "member-77", "messageId": "6f7e0b9c-6a4e-4b8f-9a57-3c0f1f7e2a01",
     "properties": {"order_id": "T-5531", "total": 27.5, "currency": "USD", "channel": "pos"},
     "context": {"library": {"name": "analytics-python", "version": "2.3.2"}},
     "timestamp": "2024-05-01T12:09:30.000000+00:00", "integrations": {}},
    {"type": "identify", "userId": "member-77", "messageId": "6f7e0b9c-6a4e-4b8f-9a57-3c0f1f7e2a02",
     "traits": {"email": "mei@example.com"},
     "context": {"library": {"name": "analytics-python", "version": "2.3.2"}, "locale": "zh-TW"},
     "timestamp": "2024-05-01T12:09:40.000000+00:00", "integrations": {}}
  ],
  "sentAt": "2024-05-01T12:10:00.000000+00:00",
  "writeKey": "wk_pos_store_12",
  "context": {"locale": "en-US", "timezone": "Asia/Taipei", "page": {"url": "https://pos.example.com/"}}
}`

func TestDecodeBatch(t *testing.T) {
	b, err := Decode("batch", []byte(analyticsPythonBatch))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 5, 1, 12, 10, 0, 0, time.UTC); !b.SentAt.Equal(want) {
		t.Errorf("SentAt = %v, want %v", b.SentAt, want)
	}
	if b.WriteKey != "wk_pos_store_12" {
		t.Errorf("WriteKey = %q, want wk_pos_store_12", b.WriteKey)
	}
	if len(b.Messages) != 2 {
		t.Fatalf("got %d messages, want 2", len(b.Messages))
	}
	wantContexts := []string{
		`{"library":{"name":"analytics-python","version":"2.3.2"},"locale":"en-US","timezone":"Asia/Taipei","page":{"url":"https://pos.example.com/"}}`,
		`{"library":{"name":"analytics-python","version":"2.3.2"},"locale":"zh-TW","timezone":"Asia/Taipei","page":{"url":"https://pos.example.com/"}}`,
	}
	wantTimes := []time.Time{
		// The client's clock is ten minutes ahead: sentAt 12:10 arrived at 12:00.
		time.Date(2024, 5, 1, 11, 59, 30, 0, time.UTC),
		time.Date(2024, 5, 1, 11, 59, 40, 0, time.UTC),
	}
	for i, m := range b.Messages {
		var got struct{ Context json.RawMessage }
		if err := json.Unmarshal(m, &got); err != nil {
			t.Fatal(err)
		}
		sameJSON(t, got.Context, wantContexts[i])
		e, err := ToEvent(m, b.SentAt, testOpts)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !e.Time().Equal(wantTimes[i]) {
			t.Errorf("message %d time = %v, want %v", i, e.Time(), wantTimes[i])
		}
		checkValid(t, e)
	}
}

func TestDecodeMergesTheBatchContextUnderTheMessages(t *testing.T) {
	tests := []struct {
		name       string
		batchCtx   string
		messageCtx string
		want       string
	}{
		{"a message without a context takes the batch's", `{"locale":"en-US"}`, ``, `{"locale":"en-US"}`},
		{"a null message context takes the batch's", `{"locale":"en-US"}`, `,"context":null`, `{"locale":"en-US"}`},
		{"the message's own values win", `{"locale":"en-US","timezone":"UTC"}`, `,"context":{"locale":"zh-TW"}`, `{"locale":"zh-TW","timezone":"UTC"}`},
		{"nested objects merge key by key", `{"page":{"path":"/a","url":"https://e.com/a"}}`, `,"context":{"page":{"path":"/b"}}`, `{"page":{"path":"/b","url":"https://e.com/a"}}`},
		{"a message value that is not an object replaces the batch's object", `{"app":{"name":"shop"}}`, `,"context":{"app":"legacy"}`, `{"app":"legacy"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"batch":[{"type":"page","messageId":"m","anonymousId":"a"` + tt.messageCtx + `}],"context":` + tt.batchCtx + `}`
			b, err := Decode("import", []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Context json.RawMessage }
			if err := json.Unmarshal(b.Messages[0], &got); err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got.Context, tt.want)
		})
	}
}

func TestDecodeKeepsABadBatchElementForToEventToReject(t *testing.T) {
	b, err := Decode("batch", []byte(`{"batch":[{"type":"page","messageId":"m","anonymousId":"a"},42,"x"],"context":{"locale":"en-US"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 3 {
		t.Fatalf("got %d messages, want 3", len(b.Messages))
	}
	if _, err := ToEvent(b.Messages[0], b.SentAt, testOpts); err != nil {
		t.Errorf("the good message: %v", err)
	}
	for _, m := range b.Messages[1:] {
		var ie *event.InvalidError
		if _, err := ToEvent(m, b.SentAt, testOpts); !errors.As(err, &ie) {
			t.Errorf("ToEvent(%s) error = %v, want an *event.InvalidError", m, err)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	tests := []struct {
		name  string
		call  string
		body  string
		field string
	}{
		{"an empty body", "track", ``, ""},
		{"a body that is not JSON", "track", `analytics.track("x")`, ""},
		{"a truncated body", "batch", `{"batch":[{"type":"page"`, ""},
		{"a null body", "track", `null`, ""},
		{"an array body", "batch", `[{"type":"page"}]`, ""},
		{"a string body", "page", `"page"`, ""},
		{"an unknown call", "pageview", `{}`, ""},
		{"a batch without its array", "batch", `{"sentAt":"2024-05-01T12:00:00Z"}`, "/batch"},
		{"a batch that is an object", "batch", `{"batch":{"type":"page"}}`, "/batch"},
		{"a batch that is a string", "import", `{"batch":"[]"}`, "/batch"},
		{"a malformed batch sentAt", "batch", `{"batch":[],"sentAt":"now"}`, "/sentAt"},
		{"a batch context that is not an object", "batch", `{"batch":[],"context":"web"}`, "/context"},
		{"a writeKey that is not a string", "track", `{"writeKey":5}`, "/writeKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.call, []byte(tt.body))
			var ie *event.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Decode error = %v, want an *event.InvalidError", err)
			}
			if len(ie.Errors) != 1 || ie.Errors[0].Field != tt.field {
				t.Errorf("Decode error = %v, want one error on %q", err, tt.field)
			}
		})
	}
}
