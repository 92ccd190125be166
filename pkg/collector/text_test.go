package collector_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
)

// TestIdsThatAreNotUTF8TextAreRejectedByField sends ids that a JSON decoder
// would read as U+FFFD — raw bytes that are not UTF-8, and escaped unpaired
// surrogates — so that "u\xff" and "u\xfe" would be one customer.
func TestIdsThatAreNotUTF8TextAreRejectedByField(t *testing.T) {
	e := start(t)
	order := func(id, user, orderID string) string {
		return `{"messageId":"` + id + `","userId":"` + user + `","event":"Order Completed","properties":{"order_id":"` + orderID + `","total":10}}`
	}
	long := strings.Repeat("é", event.MaxID+1)
	for _, tc := range []struct {
		name    string
		r       request
		field   string
		rule    string
		headers map[string]string
	}{
		{"a Segment userId with a byte that is not UTF-8", request{path: "/v1/track", body: order("m-1", "u\xff", "o-1")}, "/userId", "utf8", nil},
		{"a Segment userId with an unpaired surrogate escape", request{path: "/v1/track", body: order("m-2", `u\ud800`, "o-2")}, "/userId", "utf8", nil},
		{"a Segment anonymousId", request{path: "/v1/page", body: "{\"messageId\":\"m-3\",\"anonymousId\":\"v\xc3\"}"}, "/anonymousId", "utf8", nil},
		{"a Segment messageId", request{path: "/v1/track", body: order(`m\udfff`, "u", "o-3")}, "/messageId", "utf8", nil},
		{"a Segment order id", request{path: "/v1/track", body: order("m-4", "u", "o\xe2\x82")}, "/properties/order_id", "utf8", nil},
		{"a Segment previousId", request{path: "/v1/alias", body: "{\"messageId\":\"m-5\",\"userId\":\"u\",\"previousId\":\"p\xff\"}"}, "/previousId", "utf8", nil},
		{"a Segment userId longer than the limit", request{path: "/v1/track", body: order("m-6", long, "o-6")}, "/userId", "maxLength", nil},
		{"a CloudEvent id", request{path: "/v1/events", body: strings.Replace(ce("c-1", event.CartViewed, sample[event.CartViewed]), `"c-1"`, "\"c\xff\"", 1)}, "/id", "utf8", nil},
		{"a CloudEvent source", request{path: "/v1/events", body: strings.Replace(ce("c-2", event.CartViewed, sample[event.CartViewed]), "/shop/web", `/shop/\ud801`, 1)}, "/source", "utf8", nil},
		{"a CloudEvent user_id", request{path: "/v1/events", body: ce("c-3", event.CartViewed, "{\"user_id\":\"u\xff\",\"cart_id\":\"c1\"}")}, "/data/user_id", "utf8", nil},
		{"a CloudEvent order_id", request{path: "/v1/events", body: ce("c-4", event.OrderCompleted, "{\"user_id\":\"u\",\"order_id\":\"o\xff\",\"total\":\"1.00\",\"currency\":\"USD\"}")}, "/data/order_id", "utf8", nil},
		{"a CloudEvent id longer than the limit", request{path: "/v1/events", body: ce(long, event.CartViewed, sample[event.CartViewed])}, "/id", "maxLength", nil},
		{"a binary-mode ce-id header", request{path: "/v1/events", ctype: "application/json", body: sample[event.CartViewed]}, "/id", "utf8",
			map[string]string{"ce-specversion": "1.0", "ce-id": "b\xff", "ce-source": "/pos/1", "ce-type": event.CartViewed}},
		{"a binary-mode body's user_id", request{path: "/v1/events", ctype: "application/json", body: `{"user_id":"u\ud800","cart_id":"c1"}`}, "/data/user_id", "utf8",
			map[string]string{"ce-specversion": "1.0", "ce-id": "b-2", "ce-source": "/pos/1", "ce-type": event.CartViewed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.key, tc.r.headers = webKey, tc.headers
			code, a, _ := e.post(t, tc.r)
			if code != 400 || len(a.Rejected) != 1 {
				t.Fatalf("got %d %+v, want 400 with the event rejected", code, a)
			}
			var got []string
			for _, fe := range a.Rejected[0].Errors {
				got = append(got, fe.Field+":"+fe.Rule)
			}
			if !strings.Contains(strings.Join(got, " "), tc.field+":"+tc.rule) {
				t.Errorf("errors %v, want %s:%s", got, tc.field, tc.rule)
			}
		})
	}
	if n := len(e.kafka.ReadTopic(t, event.TopicPurchase, 0, time.Second)) + len(e.kafka.ReadTopic(t, event.TopicCart, 0, time.Second)); n != 0 {
		t.Errorf("%d events with bad ids were written", n)
	}
}

func TestABatchKeepsItsValidEventsAndRejectsTheOneWithABadId(t *testing.T) {
	e := start(t)
	bad := strings.Replace(segmentOrder("bad-1", "u-2"), `"u-2"`, "\"u-2\xff\"", 1)
	body := `{"batch":[` + segmentOrder("ok-1", "u-1") + `,` + bad + `]}`
	code, a, _ := e.post(t, request{path: "/v1/batch", key: webKey, body: body})
	if code != 200 || a.Accepted != 1 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 {
		t.Fatalf("got %d %+v, want 200 with index 1 rejected", code, a)
	}
	// Valid UTF-8 beyond ASCII, U+FFFD itself and escaped pairs are ids.
	for i, user := range []string{"顧客-1", "u-\uFFFD", `u-\ud83d\ude00`} {
		id := fmt.Sprint("uni-", i)
		if code, a, _ := e.post(t, request{path: "/v1/track", key: webKey, body: `{"messageId":"` + id + `","userId":"` + user + `","event":"Cart Viewed"}`}); code != 200 || a.Accepted != 1 {
			t.Errorf("%s: %d %+v, want accepted", user, code, a)
		}
	}
}
