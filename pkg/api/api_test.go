package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// token is the admin token of the holder "analyst", readToken the read
// token of "viewer".
const (
	token     = "s3cret-token"
	readToken = "r3ad-only:token=x"
)

var T = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	rdb   redis.UniversalClient
	store *profile.Store
	ix    *index.Index
	api   *api.Server
	url   string
	n     atomic.Int64
}

type noResults struct{}

func (noResults) Results(context.Context, string) ([]trigger.Result, error) { return nil, nil }

func start(t testing.TB, results api.Results, out api.Producer) *env {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb, store: profile.New(rdb, profile.Config{Rules: rules}), ix: index.New(rdb, "")}
	e.serve(t, results, out)
	return e
}

// serve serves the API of e's store and index.
func (e *env) serve(t testing.TB, results api.Results, out api.Producer) {
	t.Helper()
	if results == nil {
		results = noResults{}
	}
	srv, err := api.New(api.Config{Tokens: map[string]api.Holder{token: {Name: "analyst", Scope: api.ScopeAdmin}, readToken: {Name: "viewer"}}, Now: func() time.Time { return T }}, e.rdb, e.store, e.ix, results, out, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	e.api, e.url = srv, hs.URL
}

// apply applies events at T as the profile-updater does, and indexes the
// changes as the indexer does.
func (e *env) apply(t testing.TB, evs ...cloudevents.Event) {
	t.Helper()
	ctx := context.Background()
	var ops []profile.Op
	for _, ev := range evs {
		op, err := profile.OpOf(ev, "USD")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	changes, _, err := e.store.Apply(ctx, T, ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := e.ix.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
}

func (e *env) id() string { return fmt.Sprint("ev-", e.n.Add(1)) }

func (e *env) order(c string, at time.Time, total string, categories ...string) cloudevents.Event {
	var items []string
	for i, cat := range categories {
		items = append(items, fmt.Sprintf(`{"sku":"sku-%s-%d","category":%q}`, cat, i, cat))
	}
	oid := e.id()
	user, _ := json.Marshal(c)
	return testenv.Event(oid, event.OrderCompleted, c, at,
		fmt.Sprintf(`{"user_id":%s,"order_id":%q,"total":%q,"currency":"USD","items":[%s]}`, user, oid, total, strings.Join(items, ",")))
}

func (e *env) do(t testing.TB, method, path, tok string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// get fetches path with the token and decodes the JSON answer into v.
func (e *env) get(t *testing.T, path string, v any) {
	t.Helper()
	status, b, _ := e.do(t, "GET", path, token, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func TestEveryRouteButTheDocumentNeedsAValidToken(t *testing.T) {
	e := start(t, nil, nil)
	for _, route := range e.api.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{id}", "c1", "{segment}", "important_value").Replace(path)
		for _, tok := range []string{"", "wrong", token + "x", "s3cret"} {
			status, _, h := e.do(t, method, path, tok, strings.NewReader(`{"email":true}`))
			if path == "/v1/openapi.json" {
				if status != 200 {
					t.Errorf("%s: %d, want 200 without a token", route, status)
				}
				continue
			}
			if status != 401 || h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with token %q: %d, want 401 with a challenge", route, tok, status)
			}
		}
	}
	// Basic credentials are not a Bearer token.
	req, _ := http.NewRequest("GET", e.url+"/v1/counts", nil)
	req.SetBasicAuth(token, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Basic auth: %d, want 401", resp.StatusCode)
	}
	if status, _, _ := e.do(t, "GET", "/v1/counts", token, nil); status != 200 {
		t.Errorf("with the token: %d", status)
	}
	// The scheme is case-insensitive (RFC 9110).
	req, _ = http.NewRequest("GET", e.url+"/v1/counts", nil)
	req.Header.Set("Authorization", "bearer "+token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("lower-case scheme: %d, want 200", resp.StatusCode)
	}
}

func TestAReadTokenReadsButCannotEraseOrChangeConsent(t *testing.T) {
	e := start(t, nil, nil)
	e.apply(t, e.order("c1", T.Add(-day(3)), "10.00", "dog"),
		testenv.Event(e.id(), event.Identify, "c1", T.Add(-day(1)), `{"user_id":"c1","consent":{"email":true}}`))
	for _, path := range []string{"/v1/profiles/c1", "/v1/counts", "/v1/members?q=N", "/v1/segments/important_value/members?format=csv", "/v1/metrics/clv"} {
		if status, body, _ := e.do(t, "GET", path, readToken, nil); status != 200 {
			t.Errorf("GET %s with the read token: %d %s", path, status, body)
		}
	}
	for _, req := range []struct{ method, path, body string }{
		{"DELETE", "/v1/profiles/c1", ""},
		{"PUT", "/v1/profiles/c1/consent", `{"email": false}`},
	} {
		status, body, _ := e.do(t, req.method, req.path, readToken, strings.NewReader(req.body))
		if status != 403 || !strings.Contains(string(body), "admin scope") {
			t.Errorf("%s %s with the read token: %d %s, want 403 naming the admin scope", req.method, req.path, status, body)
		}
	}
	// Nothing was erased or changed.
	var p api.ProfileView
	e.get(t, "/v1/profiles/c1", &p)
	if !p.Consent["email"] || p.Activity.Orders != 1 {
		t.Errorf("after the refused requests: consent %v, %d orders", p.Consent, p.Activity.Orders)
	}
	if n, _ := e.rdb.XLen(context.Background(), api.AuditKey).Result(); n != 0 {
		t.Errorf("%d erasures audited after the refused requests", n)
	}
	// The admin token erases and changes consent.
	if status, body, _ := e.do(t, "PUT", "/v1/profiles/c1/consent", token, strings.NewReader(`{"email": false}`)); status != 200 {
		t.Errorf("consent with the admin token: %d %s", status, body)
	}
	e.get(t, "/v1/profiles/c1", &p)
	if p.Consent["email"] {
		t.Errorf("consent after the admin token's change: %v", p.Consent)
	}
	if status, body, _ := e.do(t, "DELETE", "/v1/profiles/c1", token, nil); status != 200 {
		t.Errorf("erasure with the admin token: %d %s", status, body)
	}
	if status, _, _ := e.do(t, "GET", "/v1/profiles/c1", readToken, nil); status != 404 {
		t.Errorf("profile after the admin token's erasure: %d, want 404", status)
	}
}

func TestNewRefusesATokenOfAnUnknownScope(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	_, err := api.New(api.Config{Tokens: map[string]api.Holder{"t": {Name: "x", Scope: "write"}}}, rdb, profile.New(rdb, profile.Config{}), index.New(rdb, ""), noResults{}, nil, zap.NewNop())
	if err == nil {
		t.Fatal("a token of scope write was accepted")
	}
}

// TestOpenAPIDocumentsTheScopeEachRouteNeeds: the privacy routes, and only
// they, are marked x-scope admin with a 403 answer in the document, and are
// refused to the read token.
func TestOpenAPIDocumentsTheScopeEachRouteNeeds(t *testing.T) {
	e := start(t, nil, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Scope     string         `json:"x-scope"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	e.get(t, "/v1/openapi.json", &doc)
	for _, route := range e.api.Routes() {
		method, path, _ := strings.Cut(route, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		_, documented403 := op.Responses["403"]
		status, _, _ := e.do(t, method, strings.NewReplacer("{id}", "c1", "{segment}", "important_value").Replace(path), readToken, strings.NewReader(`{"email":true}`))
		admin := route == "DELETE /v1/profiles/{id}" || route == "PUT /v1/profiles/{id}/consent" ||
			route == "POST /v1/broadcasts" || route == "DELETE /v1/broadcasts/{id}"
		if (op.Scope == "admin") != admin || documented403 != admin || (status == 403) != admin {
			t.Errorf("%s: x-scope %q, 403 documented %v; the read token gets %d", route, op.Scope, documented403, status)
		}
	}
}

func TestOpenAPIDocumentsExactlyTheRoutesServed(t *testing.T) {
	e := start(t, nil, nil)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	e.get(t, "/v1/openapi.json", &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, r := range e.api.Routes() {
		served[r] = true
		method, path, _ := strings.Cut(r, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if r := strings.ToUpper(method) + " " + path; !served[r] {
				t.Errorf("the OpenAPI document has %s, which is not served", r)
			}
		}
	}
}

func TestProfileShowsSegmentationConsentCLVAndActivity(t *testing.T) {
	e := start(t, nil, nil)
	// Three buyers: a (2 orders, recent, 300), b (1 order, 100 days ago, 50),
	// c (1 order, 10 days ago, 20, then a 5.00 refund).
	e.apply(t,
		e.order("a", T.Add(-day(40)), "100.00", "dog"), e.order("a", T.Add(-day(2)), "200.00"),
		e.order("b", T.Add(-day(100)), "50.00"),
		e.order("c", T.Add(-day(10)), "20.00"),
		testenv.Event(e.id(), event.OrderRefunded, "c", T.Add(-day(9)), `{"user_id":"c","order_id":"x","total":"5.00","currency":"USD"}`),
		testenv.Event(e.id(), event.Identify, "a", T.Add(-day(1)), `{"user_id":"a","traits":{"email":"a@example.com"},"consent":{"email":true,"sms":false}}`),
	)
	var p api.ProfileView
	e.get(t, "/v1/profiles/a", &p)
	// By hand: R = 2, F = 2, M = 300. Buyers' R: 2, 100, 10 (mean 37.3): a's
	// R is high; F: 2, 1, 1 (mean 1.33): high; M: 300, 50, 15 (mean 121.7):
	// high. Scores: a has the lowest R (2 buyers with a larger R: 1+⌊5·2/3⌋
	// = 4), F better than 2 (1+⌊10/3⌋ = 4), M better than 2 (4).
	want := api.RFMView{R: 2, F: 2, M: "300.00", RScore: 4, FScore: 4, MScore: 4, Segment: "important_value"}
	if p.RFM != want {
		t.Errorf("rfm %+v, want %+v", p.RFM, want)
	}
	// Two orders 38 days apart: the cycle is 38 days, the last order 2 days ago: E0.
	if p.Stage != "E0" || p.Cycle != 38 || p.CLV.Historical != "300.00" || p.CLV.Currency != "USD" {
		t.Errorf("stage %s, cycle %v, clv %+v", p.Stage, p.Cycle, p.CLV)
	}
	if !p.Consent["email"] || p.Consent["sms"] || p.Traits["email"] != "a@example.com" {
		t.Errorf("consent %v, traits %v", p.Consent, p.Traits)
	}
	if p.Activity.Orders != 2 || !p.Activity.LastPurchase.Equal(T.Add(-day(2))) || !p.Activity.FirstPurchase.Equal(T.Add(-day(40))) {
		t.Errorf("activity %+v", p.Activity)
	}
	if p.Tier != "member" || !contains(p.Tags, "bought:category:dog") {
		t.Errorf("tier %q, tags %v", p.Tier, p.Tags)
	}
	e.get(t, "/v1/profiles/c", &p)
	if p.RFM.M != "15.00" || p.CLV.Historical != "15.00" || p.Stage != "N" {
		t.Errorf("c: m %s, clv %s, stage %s", p.RFM.M, p.CLV.Historical, p.Stage)
	}
	if status, _, _ := e.do(t, "GET", "/v1/profiles/nobody", token, nil); status != 404 {
		t.Errorf("unknown customer: %d, want 404", status)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// population applies n customers with random orders over two years and
// returns their ids.
func (e *env) population(t *testing.T, n int, seed uint64) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	var evs []cloudevents.Event
	var ids []string
	cats := []string{"dog", "cat", "fish"}
	for i := range n {
		c := fmt.Sprintf("cust-%03d", i)
		ids = append(ids, c)
		for range 1 + r.IntN(4) {
			evs = append(evs, e.order(c, T.Add(-day(r.IntN(700))), fmt.Sprintf("%d.%02d", 5+r.IntN(300), r.IntN(100)), cats[r.IntN(3)]))
		}
	}
	// One batch: everyone is scored against the whole population.
	e.apply(t, evs...)
	return ids
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// fromMessage returns the data of a CloudEvent Kafka message.
func fromMessage(m kafka.Message) ([]byte, error) {
	ev, err := stream.FromMessage(m)
	if err != nil {
		return nil, err
	}
	return ev.Data(), nil
}
