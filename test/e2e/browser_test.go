package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segflow/segflow/pkg/event"
)

// ajsBundle is the directory of the browser build of Segment's analytics.js
// 2.0 (npm @segment/analytics-next, installed by .ci/run with npm ci in
// testdata/browser): index.js is the UMD bundle that defines
// window.AnalyticsNext, beside the chunks it loads on demand.
const ajsBundle = "testdata/browser/node_modules/@segment/analytics-next/dist/umd"

// shopPage loads analytics.js from the page's own origin and defines
// visit(mode, apiHost, anonymousId, userId): a shop visit — the home page,
// Product Viewed, Product Added, identify with consent, Order Completed,
// alias — sent to segflow as the Segment.io destination, with standard or
// batching delivery. The settings are given inline (cdnSettings), so nothing
// is fetched from Segment's CDN. It returns each call's messageId, type and
// timestamp as analytics.js made them.
const shopPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script src="/analytics-next/bundles/index.js"></script>
<script>
async function visit(mode, apiHost, anonymousId, userId) {
  const segment = {apiKey: "` + webWriteKey + `", apiHost: apiHost, protocol: "http"};
  if (mode === "batching") {
    segment.deliveryStrategy = {strategy: "batching", config: {size: 3, timeout: 200}};
  }
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {writeKey: "` + webWriteKey + `", cdnURL: location.origin, cdnSettings: {integrations: {"Segment.io": segment}}},
    {disableClientPersistence: true});
  analytics.setAnonymousId(anonymousId);
  const product = {product_id: "P-100", sku: "SKU-100", name: "Rain Jacket", category: "apparel", price: 59.9, currency: "USD"};
  const sent = [];
  const note = (ctx) => sent.push({id: ctx.event.messageId, type: ctx.event.type, event: ctx.event.event || "",
    timestamp: new Date(ctx.event.timestamp).toISOString()});
  note(await analytics.page("Home"));
  note(await analytics.track("Product Viewed", product));
  note(await analytics.track("Product Added", {...product, cart_id: "cart-" + userId, quantity: 1}));
  note(await analytics.identify(userId, {email: userId + "@example.com", consent: {email: true}}));
  note(await analytics.track("Order Completed", {order_id: "order-" + userId, total: 59.9, currency: "USD",
    products: [{...product, quantity: 1}]}));
  note(await analytics.alias(userId, "legacy-" + userId));
  return sent;
}
</script></head><body>shop</body></html>`

// sentCall is one call as analytics.js made it.
type sentCall struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Event     string    `json:"event"`
	Timestamp time.Time `json:"timestamp"`
}

// TestSegmentsBrowserLibraryDeliversEveryEventOnce loads the real
// analytics.js 2.0 bundle in headless Chromium on a page of another origin
// than segflow's collector (so the browser checks CORS, as on a shop's
// site), sends a shop visit with standard and with batching delivery, and
// checks that every call landed on its topic once, with its type, its
// customer as key and its time, and that the customer's profile holds the
// order and the consent.
func TestSegmentsBrowserLibraryDeliversEveryEventOnce(t *testing.T) {
	browser := chromium(t)
	if testing.Short() {
		t.Skip("runs a browser")
	}
	if _, err := os.Stat(filepath.Join(ajsBundle, "index.js")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but analytics.js is not installed (npm ci in test/e2e/testdata/browser): %v", err)
		}
		t.Skipf("analytics.js is not installed: run npm ci in test/e2e/testdata/browser (%v)", err)
	}
	p := startPipeline(t, time.Now, "USD")
	apiHost := strings.TrimPrefix(p.url, "http://") + "/v1"

	mux := http.NewServeMux()
	mux.Handle("GET /analytics-next/bundles/", http.StripPrefix("/analytics-next/bundles/", http.FileServer(http.Dir(ajsBundle))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, shopPage)
	})
	shop := httptest.NewServer(mux)
	t.Cleanup(shop.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	wantTypes := []string{event.PageViewed, event.ProductViewed, event.ProductAdded, event.Identify, event.OrderCompleted, event.Alias}
	wantTopics := []string{event.TopicBrowse, event.TopicBrowse, event.TopicCart, event.TopicIdentify, event.TopicPurchase, event.TopicIdentify}
	type visit struct {
		mode, anonymousID, userID string
		sent                      []sentCall
	}
	visits := []*visit{
		{mode: "standard", anonymousID: "b7e0c1d2-standard", userID: "cust-browser-standard"},
		{mode: "batching", anonymousID: "b7e0c1d2-batching", userID: "cust-browser-batching"},
	}
	for _, v := range visits {
		ctx, cancel := chromedp.NewContext(bctx) // a tab of its own
		ctx, cancelT := context.WithTimeout(ctx, time.Minute)
		err := chromedp.Do(ctx, chromedp.Navigate(shop.URL+"/"))
		if err == nil {
			v.sent, err = chromedp.Run(ctx, chromedp.Evaluate[[]sentCall](
				fmt.Sprintf("visit(%q, %q, %q, %q)", v.mode, apiHost, v.anonymousID, v.userID), chromedp.EvalAwaitPromise))
		}
		if err != nil {
			t.Fatalf("%s visit in the browser: %v", v.mode, err)
		}
		if len(v.sent) != len(wantTypes) {
			t.Fatalf("%s: analytics.js made %d calls, want %d: %+v", v.mode, len(v.sent), len(wantTypes), v.sent)
		}
		// Batching delivery sends after its timeout; the tab stays open until
		// its events are on the topics.
		defer cancel()
		defer cancelT()
	}

	all := 2 * len(wantTypes)
	var byID map[string][]kafkaMessage
	deadline := time.Now().Add(time.Minute)
	for {
		byID = map[string][]kafkaMessage{}
		n := 0
		for _, topic := range append(event.Topics, event.TopicInvalid) {
			for _, m := range p.kafka.ReadTopic(t, topic, 0, 5*time.Second) {
				km := kafkaMessage{topic: m.Topic, key: string(m.Key), headers: map[string]string{}}
				for _, h := range m.Headers {
					km.headers[h.Key] = string(h.Value)
				}
				byID[km.headers["ce_id"]] = append(byID[km.headers["ce_id"]], km)
				n++
			}
		}
		if n >= all || time.Now().After(deadline) {
			if n != all {
				t.Fatalf("%d messages on the topics, want %d", n, all)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, v := range visits {
		for i, call := range v.sent {
			ms := byID[call.ID]
			if len(ms) != 1 {
				t.Errorf("%s %s %s: %d messages, want 1", v.mode, call.Type, call.Event, len(ms))
				continue
			}
			m := ms[0]
			key := "anon:" + v.anonymousID
			if i >= 3 { // identify and after: the user's
				key = v.userID
			}
			if m.topic != wantTopics[i] || m.headers["ce_type"] != wantTypes[i] || m.key != key || m.headers["ce_channel"] != event.ChannelWeb {
				t.Errorf("%s call %d: topic %s type %s key %s channel %s, want %s %s %s web", v.mode, i, m.topic, m.headers["ce_type"], m.key, m.headers["ce_channel"], wantTopics[i], wantTypes[i], key)
			}
			// The browser's clock is the collector's: skew correction leaves
			// the call's time (less than half a minute off), never before it.
			at, err := time.Parse(time.RFC3339Nano, m.headers["ce_time"])
			if err != nil || at.Before(call.Timestamp) || at.After(call.Timestamp.Add(time.Minute)) {
				t.Errorf("%s call %d: time %s, want the call's %s corrected by the request's delay", v.mode, i, m.headers["ce_time"], call.Timestamp.Format(time.RFC3339Nano))
			}
		}
	}

	customers := []string{visits[0].userID, visits[1].userID}
	deadline = time.Now().Add(time.Minute)
	for {
		ps, err := p.store.Get(context.Background(), time.Now(), customers)
		ok := err == nil
		for i := range ps {
			ok = ok && ps[i].Orders == 1 && ps[i].Lifetime == 59_900_000 && ps[i].Consent["email"] && ps[i].Traits["email"] == customers[i]+"@example.com"
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("profiles %+v (%v), want one order of 59.90 each, with email and consent", ps, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kafkaMessage is what the test reads of a message.
type kafkaMessage struct {
	topic, key string
	headers    map[string]string
}
