package segment

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/segflow/segflow/pkg/event"
)

// FuzzDecode checks that no body makes Decode or ToEvent panic, that their
// errors are all *event.InvalidError, and that every event they accept
// validates against its schema.
func FuzzDecode(f *testing.F) {
	f.Add("batch", []byte(analyticsPythonBatch))
	f.Add("import", []byte(`{"batch":[{"type":"page","messageId":"m","anonymousId":"a","context":{"page":{"path":"/b"}}},42],"context":{"page":{"path":"/a","url":"u"}},"sentAt":"2024-05-01T12:10:00Z"}`))
	f.Add("track", []byte(`{"writeKey":"wk","anonymousId":"a","messageId":"m","event":"Product Added","properties":{"sku":"a","price":0.1,"quantity":2}}`))
	f.Add("identify", []byte(`{"userId":"u","messageId":"m","traits":{"birthday":"--02-29","consent":{"sms":true}}}`))
	f.Add("group", []byte(`{"userId":"u","messageId":"m","groupId":"g"}`))
	f.Add("batch", []byte(`{"batch":{}}`))
	f.Add("page", []byte(`null`))
	f.Add("alias", []byte(`{"userId":"u","previousId":"p","messageId":"m"}`))
	for _, tt := range mappingTests {
		f.Add("track", []byte(tt.msg))
	}
	f.Fuzz(func(t *testing.T, call string, body []byte) {
		b, err := Decode(call, body)
		if err != nil {
			var ie *event.InvalidError
			if !errors.As(err, &ie) || len(ie.Errors) == 0 {
				t.Fatalf("Decode error = %v, want an *event.InvalidError", err)
			}
			return
		}
		for _, m := range b.Messages {
			checkMapping(t, m, b)
		}
	})
}

// FuzzToEvent checks that no message makes ToEvent panic, that its errors are
// all *event.InvalidError, and that every event it returns validates against
// its schema. Besides a whole message, it maps a track event of a fuzzed name
// whose otherwise sufficient properties have one fuzzed member: random bytes
// seldom get past JSON syntax, this reaches the mapping of every field.
func FuzzToEvent(f *testing.F) {
	for _, tt := range mappingTests {
		f.Add([]byte(tt.msg), "Product Added", "price", []byte(`19.99`))
	}
	for _, tt := range rejectTests {
		f.Add([]byte(tt.msg), "Order Completed", "products", []byte(`[{"sku":"a","price":0.1,"quantity":3}]`))
	}
	for _, s := range []struct{ name, key, value string }{
		{"Product Viewed", "sku", `12345678901234567890`},
		{"Product Added", "quantity", `1e6`},
		{"Product Added", "cart_value", `"0.30000000000000004"`},
		{"Product List Viewed", "products", `[{"product_id":7,"price":-0.0000005}]`},
		{"Products Searched", "query", `{"q":["a"]}`},
		{"Cart Viewed", "currency", `"jpy"`},
		{"Checkout Started", "value", `999999999999999999.9999994`},
		{"Order Completed", "total", `null`},
		{"Order Refunded", "revenue", `"-12.5"`},
		{"Coupon Applied", "discount", `23.32`},
		{"product_added_to_wishlist", "name", `"\ud800"`},
	} {
		f.Add([]byte(`{}`), s.name, s.key, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, m []byte, name, key string, value []byte) {
		checkMapping(t, m, Batch{})
		props := map[string]json.RawMessage{
			"sku": json.RawMessage(`"SKU-1"`), "order_id": json.RawMessage(`"O-1"`),
			"total": json.RawMessage(`10`), "query": json.RawMessage(`"jacket"`),
		}
		if json.Valid(value) {
			props[key] = value
		} else {
			props[key], _ = json.Marshal(string(value))
		}
		msg, err := json.Marshal(map[string]any{
			"type": "track", "messageId": "m-1", "anonymousId": "a-1", "event": name, "properties": props,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkMapping(t, msg, Batch{})
	})
}

func checkMapping(t *testing.T, m json.RawMessage, b Batch) {
	t.Helper()
	e, err := ToEvent(m, b.SentAt, testOpts)
	if err != nil {
		var ie *event.InvalidError
		if !errors.As(err, &ie) || len(ie.Errors) == 0 {
			t.Fatalf("ToEvent(%s) error = %v, want an *event.InvalidError", m, err)
		}
		return
	}
	if !slices.Contains(event.Types, e.Type()) {
		t.Fatalf("ToEvent(%s) type = %q, not a segflow type", m, e.Type())
	}
	checkValid(t, e)
}
