package collector

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/segflow/segflow/pkg/event"
)

// FuzzDecodeCloudEvents feeds arbitrary bodies to the /v1/events decoder in all
// three modes. Whatever comes in, the decoder must not panic, must account for
// every event with an item, and an item without errors must be a complete
// CloudEvent whose data is a JSON object.
func FuzzDecodeCloudEvents(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"segflow.cart.viewed","data":{"user_id":"u"}}`), uint8(0))
	f.Add([]byte(`[{"specversion":"1.0","id":"1","source":"/s","type":"segflow.cart.viewed","data":{}},{"id":2},null,[]]`), uint8(1))
	f.Add([]byte(`{"user_id":"u","query":"tea"}`), uint8(2))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"x","time":"yesterday","data_base64":"AA==","ext":{"a":1}}`), uint8(0))
	f.Add([]byte(`[`), uint8(1))
	f.Add([]byte("\xff\xfe"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		h := http.Header{}
		switch mode % 3 {
		case 0:
			h.Set("Content-Type", contentStructured)
		case 1:
			h.Set("Content-Type", contentBatch)
		case 2:
			h.Set("Content-Type", "application/json")
			h.Set("ce-specversion", "1.0")
			h.Set("ce-id", "id")
			h.Set("ce-source", "/s")
			h.Set("ce-type", event.CartViewed)
		}
		items := decodeCloudEvents(h, body)
		if len(items) == 0 {
			var arr []json.RawMessage
			if json.Unmarshal(body, &arr) != nil || len(arr) != 0 {
				t.Fatalf("no items for %q", body)
			}
		}
		for _, it := range items {
			if !it.ok() {
				for _, fe := range it.errs {
					if fe.Message == "" || fe.Rule == "" {
						t.Fatalf("error without message or rule: %+v", fe)
					}
				}
				continue
			}
			e := it.ev
			if e.ID() == "" || e.Source() == "" || e.Type() == "" || e.SpecVersion() != "1.0" {
				t.Fatalf("accepted an incomplete event %+v from %q", e, body)
			}
			var data map[string]any
			if err := json.Unmarshal(e.Data(), &data); err != nil {
				t.Fatalf("accepted data that is not a JSON object: %q", e.Data())
			}
			if _, err := event.Topic(e.Type()); err != nil {
				t.Fatalf("accepted an unknown type %q", e.Type())
			}
		}
	})
}
