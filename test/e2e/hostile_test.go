package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

const hostileCampaigns = `
campaigns:
  - name: cart_abandon
    kind: cart_abandon
    on: [segflow.cart.product_added]
    when: profile.cart_value > 0.0
    delay: 30m
    restart: true
    cancel_on: [segflow.purchase.order_completed]
    channel: email
    action: {type: coupon}
  - name: welcome
    kind: first_purchase
    on: [segflow.purchase.order_completed]
    when: profile.orders == 1
    channel: email
    action: {type: message, params: {template: welcome}}
`

// segmentBatch posts Segment calls as one /v1/batch and returns how many
// were accepted and the indexes of those rejected.
func (p *pipeline) segmentBatch(t testing.TB, calls []map[string]any) (int, map[int]string) {
	t.Helper()
	status, b := p.collect(t, "/v1/batch", "application/json", map[string]any{"batch": calls})
	var a struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Index  int `json:"index"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(b, &a); err != nil || (status != 200 && status != 400) {
		t.Fatalf("collector: %d %s", status, b)
	}
	rejected := map[int]string{}
	for _, r := range a.Rejected {
		field := ""
		if len(r.Errors) > 0 {
			field = r.Errors[0].Field
		}
		rejected[r.Index] = field
	}
	return a.Accepted, rejected
}

// previous is another id made from id, for an alias.
func previous(id string) string {
	r := []rune(id)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	for len(string(r)) > 255 {
		r = r[1:]
	}
	return string(r) + "~"
}

// calls are one customer's Segment calls: a view, a cart line, an order, an
// identify linking an anonymous id and an alias, all under id.
func customerCalls(id string, n int, at time.Time) []map[string]any {
	ts := func(d time.Duration) string { return at.Add(-d).Format(time.RFC3339Nano) }
	m := func(kind string) string { return fmt.Sprintf("m-%d-%s", n, kind) }
	return []map[string]any{
		{"type": "track", "messageId": m("view"), "userId": id, "timestamp": ts(3 * time.Hour), "event": "Product Viewed",
			"properties": map[string]any{"sku": id, "category": id, "price": 10}},
		{"type": "track", "messageId": m("cart"), "anonymousId": id, "timestamp": ts(2 * time.Hour), "event": "Product Added",
			"properties": map[string]any{"sku": id, "price": 5, "quantity": 1}},
		{"type": "identify", "messageId": m("identify"), "userId": id, "anonymousId": id, "timestamp": ts(time.Hour),
			"traits": map[string]any{"email": "x@example.com", "tier": "gold"}},
		{"type": "alias", "messageId": m("alias"), "userId": id, "previousId": previous(id), "timestamp": ts(50 * time.Minute)},
		{"type": "track", "messageId": m("order"), "userId": id, "timestamp": ts(40 * time.Minute), "event": "Order Completed",
			"properties": map[string]any{"order_id": id, "total": "12.50", "currency": "USD", "products": []any{map[string]any{"sku": id, "category": id, "price": 12.5}}}},
	}
}

// TestHostileIDsThroughThePipelineTouchNothingButTheirOwn sends generated
// hostile ids (braces, colons, glob characters, escapes, shared-slot names,
// 256 bytes, unicode, NUL) through the collector as Segment calls — views,
// carts, identify with traits, alias, orders — gives each a consent change
// and erases each through the read API, with the profile-updater and the
// trigger service running. Every other customer's keys and every shared key
// are then byte for byte what they were before; the aggregates that count
// customers (campaign statistics, the index's names and days) are the only
// exception, and hold no id. SEGFLOW_FUZZ_IDS sets how many ids (default
// 600; `make fuzz` runs more).
func TestHostileIDsThroughThePipelineTouchNothingButTheirOwn(t *testing.T) {
	n := 600
	if s := os.Getenv("SEGFLOW_FUZZ_IDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	T := time.Now().UTC().Truncate(time.Second)
	now := func() time.Time { return T }
	p := startPipeline(t, now, "USD")
	camps, err := campaign.Parse([]byte(hostileCampaigns))
	if err != nil {
		t.Fatal(err)
	}
	p.startTrigger(t, camps, now)
	// The consent calls read the profile back against a population view;
	// one loaded afresh per request (the default, view.FromStore) would scan
	// every profile for each of them.
	srv := p.startAPIWith(t, api.Config{Now: now, Views: &onceViews{from: view.FromStore{Store: p.store, Now: now}}})
	call := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The customers who must be left alone.
	var calls []map[string]any
	customers := map[string]bool{}
	for i := range 50 {
		c := fmt.Sprintf("cust-%03d", i)
		customers[c], customers[previous(c)] = true, true
		calls = append(calls, customerCalls(c, i, T)...)
	}
	applied, rejected := p.segmentBatch(t, calls)
	if len(rejected) > 0 {
		t.Fatalf("the customers' own calls were rejected: %v", rejected)
	}
	p.waitApplied(t, applied, time.Minute)
	waitTriggers(t, p)
	before := comparable(testenv.Dump(t, p.rdb, ""))

	// The hostile ids, each with its own calls.
	var ids []string
	for _, id := range testenv.HostileIDs(n, 3) {
		if !customers[id] {
			ids = append(ids, id)
		}
	}
	var kept []string
	for i := 0; i < len(ids); i += 200 {
		chunk := ids[i:min(i+200, len(ids))]
		calls = calls[:0]
		for j, id := range chunk {
			calls = append(calls, customerCalls(id, 1000+i+j, T)...)
		}
		accepted, rejected := p.segmentBatch(t, calls)
		applied += accepted
		refused := map[int]bool{}
		for idx, field := range rejected {
			refused[idx/5] = true
			// Only user ids in the reserved anonymous namespace are refused.
			if id := chunk[idx/5]; !strings.HasPrefix(id, "anon:") || field != "/data/user_id" {
				t.Errorf("call %d of %q rejected (%s)", idx%5, id, field)
			}
		}
		for j, id := range chunk {
			if !refused[j] {
				kept = append(kept, id)
			}
		}
	}
	if len(kept) < n*9/10 {
		t.Fatalf("only %d of %d hostile customers were accepted", len(kept), n)
	}
	p.waitApplied(t, applied, 2*time.Minute)
	for _, id := range kept[:50] {
		if got, err := p.store.Exists(context.Background(), id); err != nil || !got {
			t.Fatalf("hostile customer %q has no profile of their own: %v", id, err)
		}
	}
	for _, id := range kept {
		if status := call("PUT", "/v1/profiles/"+url.PathEscape(id)+"/consent", `{"email": false}`); status != 200 {
			t.Fatalf("consent of %q: %d", id, status)
		}
	}
	p.waitApplied(t, applied+len(kept), time.Minute)
	// Erased before the trigger service has handled every event and change,
	// a customer would get keys of it back.
	waitTriggers(t, p)
	// Each id, and the anonymous visitor of the same id (merged into the
	// customer by the identify, unless that was refused).
	for _, id := range ids {
		for _, c := range []string{id, event.CustomerID("", id)} {
			if status := call("DELETE", "/v1/profiles/"+url.PathEscape(c), ""); status != 200 {
				t.Fatalf("erase %q: %d", c, status)
			}
		}
	}
	after := comparable(testenv.Dump(t, p.rdb, ""))
	testenv.SameKeys(t, before, after)
	t.Logf("%d hostile ids, %d accepted, %d events applied; %d keys compared", len(ids), len(kept), applied, len(before))
}

// waitTriggers waits until the trigger service has handled every event and
// profile change published so far: the updater counts an event applied once
// its changes are published, and the service commits a message once it has
// made its decisions.
func waitTriggers(t *testing.T, p *pipeline) {
	t.Helper()
	waitGroup(t, p.kafka.Brokers, "segflow-trigger", append(event.Topics, event.TopicProfiles)...)
}

// comparable drops from a Dump of every key what customers add to by design
// and an erasure keeps: the collector's dedup markers (hashed event ids), the
// erasure record and audit log (hashed ids), the campaigns' statistics,
// the segment index's record by day (counts) and the profile writers'
// watermarks. None holds an id.
func comparable(all map[string]string) map[string]string {
	for k := range all {
		ix, _ := keys.SharedOf("sf", k)
		tr, _ := keys.SharedOf("tr", k)
		switch {
		case strings.HasPrefix(k, "sf:seen:"), privacy.IsRecordKey(k), k == api.AuditKey,
			strings.HasPrefix(tr, "stats:"),
			strings.HasPrefix(ix, "ix.") && strings.HasSuffix(k, ":days"),
			profile.IsBookkeeping("sf", k):
			delete(all, k)
		}
	}
	return all
}

// onceViews loads each namespace's population view once, from from.
type onceViews struct {
	from  view.FromStore
	mu    sync.Mutex
	views map[string]*view.View
}

func (o *onceViews) Of(ctx context.Context, ns string) (*view.View, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.views[ns]; ok {
		return v, nil
	}
	v, err := o.from.Of(ctx, ns)
	if err != nil {
		return nil, err
	}
	if o.views == nil {
		o.views = map[string]*view.View{}
	}
	o.views[ns] = v
	return v, nil
}
