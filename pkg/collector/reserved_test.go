package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
)

func TestAUserIDInTheAnonymousNamespaceIsRejected(t *testing.T) {
	e := start(t)
	for name, r := range map[string]request{
		"cloudevent": {path: "/v1/events", key: webKey, body: ce("x", event.OrderCompleted,
			`{"user_id":"anon:visitor-7","order_id":"o1","total":"10.00","currency":"USD"}`)},
		"segment track":    {path: "/v1/track", key: webKey, body: `{"messageId":"m1","userId":"anon:visitor-7","event":"Product Viewed","properties":{"sku":"S"}}`},
		"segment identify": {path: "/v1/identify", key: webKey, body: `{"messageId":"m2","userId":"anon:visitor-8","anonymousId":"visitor-9"}`},
		"segment alias":    {path: "/v1/alias", key: webKey, body: `{"messageId":"m3","userId":"anon:visitor-8","previousId":"visitor-9"}`},
	} {
		code, a, _ := e.post(t, r)
		if code != 400 || len(a.Rejected) != 1 || len(a.Rejected[0].Errors) != 1 {
			t.Errorf("%s: got %d %+v, want 400 naming user_id", name, code, a)
			continue
		}
		if fe := a.Rejected[0].Errors[0]; fe.Field != "/data/user_id" || !strings.Contains(fe.Message, "anon:") {
			t.Errorf("%s: error %+v, want /data/user_id saying anon: is reserved", name, fe)
		}
	}
	// Each was dead-lettered; nothing reached the event topics, so no
	// visitor's profile was written.
	e.kafka.ReadTopic(t, event.TopicInvalid, 4, 5*time.Second)
	e.byID(t, 0, event.TopicBrowse, event.TopicIdentify, event.TopicPurchase)
}
