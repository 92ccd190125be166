package collector_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
)

func TestAmountsAndTimesOutOfBoundsAreRejectedNamingTheFieldAndTheBound(t *testing.T) {
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	e := start(t, func(c *collector.Config) {
		c.Now = func() time.Time { return received }
		c.MaxFuture = time.Hour
	})
	order := func(total string) string {
		return fmt.Sprintf(`{"user_id":"u1","order_id":"o1","total":%s,"currency":"USD"}`, total)
	}
	at := func(id, typ, when, data string) string {
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/shop/web","type":%q,"time":%q,"datacontenttype":"application/json","data":%s}`, id, typ, when, data)
	}
	tests := []struct {
		name       string
		body       string
		field      string
		boundInMsg string
	}{
		{"a negative total", ce("neg", event.OrderCompleted, order(`"-50.00"`)), "/data/total", "999999999.999999"},
		{"a negative refund", ce("negr", event.OrderRefunded, order(`"-50.00"`)), "/data/total", "999999999.999999"},
		{"a total of five trillion, which overflowed the sums", ce("5t", event.OrderCompleted, order(`"5000000000000.00"`)), "/data/total", "999999999.999999"},
		{"a total one micro above the largest", ce("max+1", event.OrderCompleted, order(`"1000000000"`)), "/data/total", "999999999.999999"},
		{"a total of minor units above the largest", ce("cents", event.OrderCompleted, order(`1000000000`)), "/data/total", "999999999"},
		{"a negative number of minor units", ce("negc", event.OrderCompleted, order(`-5`)), "/data/total", "999999999"},
		{"a price above the largest", ce("price", event.ProductAdded, `{"user_id":"u1","product":{"sku":"s","price":"1000000000.5"}}`), "/data/product/price", "999999999.999999"},
		{"an order in the year 9999", at("9999", event.OrderCompleted, "9999-12-31T00:00:00Z", order(`"5.00"`)), "time", "1h0m0s"},
		{"an order a second past the allowed skew", at("skew", event.OrderCompleted, "2026-11-20T11:00:01Z", order(`"5.00"`)), "time", "1h0m0s"},
		{"an order before 1970", at("1969", event.OrderCompleted, "1969-12-31T23:59:59Z", order(`"5.00"`)), "time", "1970-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, ctype: "application/cloudevents-batch+json", body: "[" + tt.body + "]"})
			if code != http.StatusBadRequest || len(a.Rejected) != 1 {
				t.Fatalf("got %d %+v, want 400 with the event rejected", code, a)
			}
			errs := a.Rejected[0].Errors
			if len(errs) != 1 || errs[0].Field != tt.field || !strings.Contains(errs[0].Message, tt.boundInMsg) {
				t.Errorf("errors %+v, want one on %s naming %s", errs, tt.field, tt.boundInMsg)
			}
		})
	}

	// The bounds themselves are accepted.
	body := "[" + strings.Join([]string{
		ce("max", event.OrderCompleted, order(`"999999999.999999"`)),
		ce("maxc", event.OrderCompleted, order(`999999999`)),
		ce("zero", event.OrderRefunded, order(`"0"`)),
		at("edge", event.OrderCompleted, "2026-11-20T11:00:00Z", order(`"5.00"`)),
		at("epoch", event.OrderCompleted, "1970-01-01T00:00:00Z", order(`"5.00"`)),
	}, ",") + "]"
	if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, ctype: "application/cloudevents-batch+json", body: body}); code != http.StatusOK || a.Accepted != 5 {
		t.Errorf("events at the bounds: got %d %+v, want all 5 accepted", code, a)
	}
}
