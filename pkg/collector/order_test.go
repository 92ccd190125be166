package collector_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/segment"
)

// timeOf is a message's event time.
func timeOf(t *testing.T, m kafka.Message) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, header(m, "ce_time"))
	if err != nil {
		t.Fatalf("ce_time %q: %v", header(m, "ce_time"), err)
	}
	return at
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

const (
	addedProps = `"event":"Product Added","properties":{"cart_id":"c-1","product_id":"P-1","price":59.9,"quantity":1}`
	orderProps = `"event":"Order Completed","properties":{"order_id":"o-1","total":59.9,"products":[{"product_id":"P-1","price":59.9,"quantity":1}]}`
)

// TestABrowsersProductAddedStaysBeforeTheOrderItSentInAFasterRequest is the
// case that left cart_items 1 after an order: analytics.js sends each call
// in a request of its own, with the call's sentAt. The shopper adds to the
// cart and orders 2 ms later; the add's request takes 400 ms, the order's
// 10 ms, so the order arrives first. The browser's clock is the collector's.
// Corrected per request, the add landed after the order.
func TestABrowsersProductAddedStaysBeforeTheOrderItSentInAFasterRequest(t *testing.T) {
	clk := &clock{}
	e := start(t, func(c *collector.Config) { c.Now = clk.Now })
	added := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ordered := added.Add(2 * time.Millisecond)
	calls := []struct {
		id, props   string
		at, arrival time.Time
	}{
		{"order-1", orderProps, ordered, ordered.Add(time.Millisecond + 10*time.Millisecond)},
		{"add-1", addedProps, added, added.Add(time.Millisecond + 400*time.Millisecond)},
	}
	for _, c := range calls {
		clk.set(c.arrival)
		body := fmt.Sprintf(`{"type":"track","messageId":%q,"anonymousId":"v-1","userId":"u-1","timestamp":%q,"sentAt":%q,"writeKey":%q,%s}`,
			c.id, rfc3339(c.at), rfc3339(c.at.Add(time.Millisecond)), webKey, c.props)
		if code, a, _ := e.post(t, request{path: "/v1/t", ctype: "text/plain", body: body}); code != http.StatusOK || a.Accepted != 1 {
			t.Fatalf("%s: %d %+v", c.id, code, a)
		}
	}
	got := e.byID(t, 2, event.TopicCart, event.TopicPurchase)
	if add, order := timeOf(t, got["add-1"][0]), timeOf(t, got["order-1"][0]); !add.Before(order) {
		t.Errorf("Product Added at %s, Order Completed at %s: the add, made 2 ms before the order, is not before it", rfc3339(add), rfc3339(order))
	}
}

// TestAnAppsEventsKeepTheirOrderAcrossBatchesWhenItsClockIsAnHourOff sends a
// mobile library's two batches, each with the sentAt of when the library
// closed it: the first, a product view and a cart add, takes 3.5 s to
// upload; the order and the login, made 50 ms after the add and closed when
// the first upload returned, take 100 ms. The phone's clock is an hour off
// either way. Every event lands in the order the phone made them, within
// half a minute of when it happened on the collector's clock.
func TestAnAppsEventsKeepTheirOrderAcrossBatchesWhenItsClockIsAnHourOff(t *testing.T) {
	for name, offset := range map[string]time.Duration{"an hour slow": -time.Hour, "an hour fast": time.Hour} {
		t.Run("a clock "+name, func(t *testing.T) {
			clk := &clock{}
			e := start(t, func(c *collector.Config) { c.Now = clk.Now })
			T := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC) // on the collector's clock
			type call struct {
				id, typ, topic, fields string
				happened               time.Time
			}
			batches := []struct {
				calls            []call
				closed, received time.Time
			}{
				{[]call{
					{"view-1", "track", event.TopicBrowse, `"event":"Product Viewed","properties":{"product_id":"P-1","price":59.9}`, T},
					{"add-1", "track", event.TopicCart, addedProps, T.Add(time.Second)},
				}, T.Add(1500 * time.Millisecond), T.Add(5 * time.Second)},
				{[]call{
					{"order-1", "track", event.TopicPurchase, orderProps, T.Add(1050 * time.Millisecond)},
					{"login-1", "identify", event.TopicIdentify, `"traits":{"email":"u-1@example.com"}`, T.Add(1100 * time.Millisecond)},
				}, T.Add(5 * time.Second), T.Add(5100 * time.Millisecond)},
			}
			var order []call
			for _, b := range batches {
				var msgs []string
				for _, c := range b.calls {
					msgs = append(msgs, fmt.Sprintf(`{"type":%q,"messageId":%q,"anonymousId":"dev-1","userId":"u-1","timestamp":%q,%s}`,
						c.typ, c.id, rfc3339(c.happened.Add(offset)), c.fields))
					order = append(order, c)
				}
				clk.set(b.received)
				body := fmt.Sprintf(`{"batch":[%s,%s],"sentAt":%q,"writeKey":%q}`, msgs[0], msgs[1], rfc3339(b.closed.Add(offset)), webKey)
				if code, a, _ := e.post(t, request{path: "/v1/b", ctype: "application/json; charset=utf-8", body: body}); code != http.StatusOK || a.Accepted != 2 {
					t.Fatalf("batch: %d %+v", code, a)
				}
			}
			got := e.byID(t, len(order), event.TopicBrowse, event.TopicCart, event.TopicPurchase, event.TopicIdentify)
			var prev time.Time
			for i, c := range order {
				at := timeOf(t, got[c.id][0])
				if off := at.Sub(c.happened).Abs(); off > segment.SkewUnit/2 {
					t.Errorf("%s at %s, %s from when it happened on the collector's clock (%s)", c.id, rfc3339(at), off, rfc3339(c.happened))
				}
				if i > 0 && !at.After(prev) {
					t.Errorf("%s at %s, not after %s at %s, made before it", c.id, rfc3339(at), order[i-1].id, rfc3339(prev))
				}
				prev = at
			}
		})
	}
}

// TestAClientCannotMoveItsEventsOutsideTheBounds sends single calls whose
// sentAt, or timestamp, is far from the collector's clock, with
// --max-future an hour. No event is moved from its timestamp by more than
// that hour, and none lands more than that hour past its receipt.
func TestAClientCannotMoveItsEventsOutsideTheBounds(t *testing.T) {
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	const maxFuture = time.Hour
	e := start(t, func(c *collector.Config) {
		c.Now = func() time.Time { return received }
		c.MaxFuture = maxFuture
	})
	tests := []struct {
		name      string
		timestamp time.Time
		sentAt    time.Time
		// want is when the event lands, within SkewUnit/2; zero if it is
		// refused for a time past receipt plus --max-future.
		want time.Time
	}{
		{"a sentAt ten years ahead does not move the event ten years back",
			received.Add(-time.Minute), received.AddDate(10, 0, 0), received.Add(-time.Minute)},
		{"a sentAt ten years behind does not move the event ten years ahead",
			received.Add(-time.Minute), received.AddDate(-10, 0, 0), received.Add(-time.Minute)},
		{"a batch closed two days ago keeps its timestamps",
			received.Add(-48*time.Hour - time.Minute), received.Add(-48 * time.Hour), received.Add(-48*time.Hour - time.Minute)},
		{"a clock 59 minutes fast is corrected",
			received.Add(59*time.Minute - time.Second), received.Add(59 * time.Minute), received.Add(-time.Second)},
		{"a clock two hours fast is more than the bound corrects, and its events are refused as from the future",
			received.Add(2*time.Hour - time.Second), received.Add(2 * time.Hour), time.Time{}},
		{"an event stamped two hours after its own sentAt is refused as from the future",
			received.Add(2 * time.Hour), received, time.Time{}},
	}
	accepted := map[string]time.Time{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprint("m-", i)
			body := fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"u-1","event":"Signed Up","timestamp":%q,"sentAt":%q}`, id, rfc3339(tt.timestamp), rfc3339(tt.sentAt))
			code, a, _ := e.post(t, request{path: "/v1/track", key: webKey, body: body})
			if tt.want.IsZero() {
				if code != http.StatusBadRequest || len(a.Rejected) != 1 || a.Rejected[0].Errors[0].Field != "time" || a.Rejected[0].Errors[0].Rule != "maximum" {
					t.Errorf("got %d %+v, want 400 with the time past its receipt plus %s", code, a, maxFuture)
				}
				return
			}
			if code != http.StatusOK || a.Accepted != 1 {
				t.Fatalf("got %d %+v, want it accepted", code, a)
			}
			accepted[id] = tt.want
		})
	}
	got := e.byID(t, len(accepted), event.TopicBrowse)
	for i, tt := range tests {
		want, ok := accepted[fmt.Sprint("m-", i)]
		if !ok {
			continue
		}
		at := timeOf(t, got[fmt.Sprint("m-", i)][0])
		if off := at.Sub(want).Abs(); off > segment.SkewUnit/2 {
			t.Errorf("%s: lands at %s, want %s", tt.name, rfc3339(at), rfc3339(want))
		}
		if moved := at.Sub(tt.timestamp).Abs(); moved > maxFuture {
			t.Errorf("%s: moved %s from its timestamp, more than %s", tt.name, moved, maxFuture)
		}
	}
}
