package collector_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

const (
	webKey = "wk_web_secret"
	posKey = "wk_pos_secret"
)

type env struct {
	url   string
	kafka *testenv.Kafka
	redis *testenv.Redis
	reg   *prometheus.Registry
}

func start(t testing.TB, mod ...func(*collector.Config)) *env {
	t.Helper()
	r := testenv.StartRedis(t)
	k := testenv.StartKafka(t)
	cfg := collector.Config{
		WriteKeys: map[string]collector.Source{
			webKey: {Name: "web", Channel: "web"},
			posKey: {Name: "pos-taipei", Channel: "pos"},
		},
		WriteTimeout: 2 * time.Second,
		RetryAfter:   3 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	w := stream.NewWriter(k.Brokers, k.Security, cfg.WriteTimeout)
	t.Cleanup(func() { w.Close() })
	reg := prometheus.NewRegistry()
	c, err := collector.New(cfg, w, r.Client(t), zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, kafka: k, redis: r, reg: reg}
}

type answer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index  int                `json:"index"`
		ID     string             `json:"id"`
		Errors []event.FieldError `json:"errors"`
	} `json:"rejected"`
	Erased    int    `json:"erased"`
	Unwritten []int  `json:"unwritten"`
	Error     string `json:"error"`
}

type request struct {
	path    string
	body    string
	ctype   string
	key     string
	headers map[string]string
	gzip    bool
}

func (e *env) post(t testing.TB, r request) (int, answer, http.Header) {
	t.Helper()
	body := []byte(r.body)
	if r.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	req, _ := http.NewRequest("POST", e.url+r.path, bytes.NewReader(body))
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.key != "" {
		req.SetBasicAuth(r.key, "")
	}
	if r.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %s is not JSON: %v", b, err)
	}
	return resp.StatusCode, a, resp.Header
}

// clock is a collector clock the test sets before each request.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// sample is valid data for every event type, as a producer would send it.
var sample = map[string]string{
	event.ProductViewed:     `{"user_id":"u1","product":{"sku":"SKU-1","name":"Jacket","category":"apparel","price":"59.90","currency":"USD"},"url":"https://shop.example/p/1"}`,
	event.ProductListViewed: `{"anonymous_id":"a1","category":"apparel","products":[{"sku":"SKU-1"}]}`,
	event.ProductsSearched:  `{"user_id":"u1","query":"rain jacket"}`,
	event.PageViewed:        `{"user_id":"u1","name":"Home","path":"/"}`,
	event.Interaction:       `{"user_id":"u1","name":"Video Played","properties":{"seconds":12}}`,
	event.ProductAdded:      `{"user_id":"u1","cart_id":"c1","product":{"sku":"SKU-1","price":"59.90"},"quantity":2,"cart_value":"119.80","currency":"USD"}`,
	event.ProductRemoved:    `{"user_id":"u1","cart_id":"c1","product":{"sku":"SKU-1"},"quantity":1}`,
	event.CartViewed:        `{"user_id":"u1","cart_id":"c1"}`,
	event.CheckoutStarted:   `{"user_id":"u1","cart_id":"c1"}`,
	event.WishlistAdded:     `{"user_id":"u1","product":{"sku":"SKU-2"}}`,
	event.OrderCompleted:    `{"user_id":"u1","order_id":"o1","total":"119.80","currency":"USD","items":[{"sku":"SKU-1","price":"59.90","quantity":2}]}`,
	event.OrderRefunded:     `{"user_id":"u1","order_id":"o1","total":5990,"currency":"USD"}`,
	event.Identify:          `{"user_id":"u1","anonymous_id":"a1","traits":{"email":"x@example.com","birthday":"--05-17","timezone":"Asia/Taipei"},"consent":{"email":true,"sms":false}}`,
	event.Alias:             `{"user_id":"u1","previous_id":"old-1"}`,
}

func ce(id, typ, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/shop/web","type":%q,"time":"2026-11-20T10:00:00Z","datacontenttype":"application/json","data":%s}`, id, typ, data)
}

func header(m kafka.Message, name string) string {
	for _, h := range m.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

// byID reads every message of the topics and indexes them by ce_id.
func (e *env) byID(t *testing.T, want int, topics ...string) map[string][]kafka.Message {
	t.Helper()
	got := map[string][]kafka.Message{}
	n := 0
	for _, topic := range topics {
		for _, m := range e.kafka.ReadTopic(t, topic, 0, 2*time.Second) {
			got[header(m, "ce_id")] = append(got[header(m, "ce_id")], m)
			n++
		}
	}
	if n != want {
		t.Fatalf("%d messages on %v, want %d", n, topics, want)
	}
	return got
}

func TestEveryEventTypeLandsOnItsTopicKeyedByCustomer(t *testing.T) {
	e := start(t)
	var batch []string
	for _, typ := range event.Types {
		batch = append(batch, ce("id-"+typ, typ, sample[typ]))
	}
	code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, ctype: "application/cloudevents-batch+json", body: "[" + strings.Join(batch, ",") + "]"})
	if code != 200 || a.Accepted != len(event.Types) || len(a.Rejected) != 0 {
		t.Fatalf("got %d %+v, want 200 with %d accepted", code, a, len(event.Types))
	}
	got := e.byID(t, len(event.Types), append(event.Topics, event.TopicInvalid)...)
	for _, typ := range event.Types {
		t.Run(typ, func(t *testing.T) {
			ms := got["id-"+typ]
			if len(ms) != 1 {
				t.Fatalf("%d messages with id %s, want 1", len(ms), "id-"+typ)
			}
			m := ms[0]
			wantTopic := strings.Split(typ, ".")[1]
			if m.Topic != wantTopic {
				t.Errorf("topic %s, want %s", m.Topic, wantTopic)
			}
			wantKey := "u1"
			if typ == event.ProductListViewed {
				wantKey = "u1" // a1 is linked to u1 by the identify in the same request
			}
			if string(m.Key) != wantKey {
				t.Errorf("key %q, want %q", m.Key, wantKey)
			}
			for h, want := range map[string]string{
				"ce_specversion": "1.0", "ce_type": typ, "ce_source": "/shop/web",
				"ce_time": "2026-11-20T10:00:00Z", "content-type": "application/json", "ce_channel": "web",
			} {
				if got := header(m, h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, header(m, "ce_receivedat")); err != nil {
				t.Errorf("ce_receivedat %q: %v", header(m, "ce_receivedat"), err)
			}
			var sent, written any
			json.Unmarshal([]byte(sample[typ]), &sent)
			json.Unmarshal(m.Value, &written)
			if fmt.Sprint(sent) != fmt.Sprint(written) {
				t.Errorf("data %s, want %s", m.Value, sample[typ])
			}
			if _, err := stream.FromMessage(m); err != nil {
				t.Errorf("message does not decode as a CloudEvent: %v", err)
			}
		})
	}
	if n := metricSum(t, e.reg, "segflow_collector_events_accepted_total"); n != float64(len(event.Types)) {
		t.Errorf("accepted metric %v, want %d", n, len(event.Types))
	}
}

// metricSum adds up every series of a counter.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func TestStructuredAndBinaryModesAreAccepted(t *testing.T) {
	e := start(t)
	structured := strings.Replace(ce("s-1", event.OrderCompleted, sample[event.OrderCompleted]), `"id":`, `"tillno":7,"training":false,"id":`, 1)
	code, a, _ := e.post(t, request{path: "/v1/events", key: posKey, ctype: "application/cloudevents+json; charset=utf-8", body: structured})
	if code != 200 || a.Accepted != 1 {
		t.Fatalf("structured: got %d %+v", code, a)
	}
	code, a, _ = e.post(t, request{path: "/v1/events", key: posKey, ctype: "application/json", body: `{"user_id":"u9","query":"tea"}`, headers: map[string]string{
		"ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "/pos/7", "ce-type": event.ProductsSearched, "ce-traceparent": "00-abc",
	}})
	if code != 200 || a.Accepted != 1 {
		t.Fatalf("binary: got %d %+v", code, a)
	}
	got := e.byID(t, 2, event.TopicPurchase, event.TopicBrowse)
	if m := got["s-1"][0]; header(m, "ce_channel") != "pos" || m.Topic != event.TopicPurchase {
		t.Errorf("structured: channel %q topic %s, want the source's channel pos on purchase", header(m, "ce_channel"), m.Topic)
	} else if header(m, "ce_tillno") != "7" || header(m, "ce_training") != "false" {
		t.Errorf("structured: extensions tillno %q training %q, want 7 and false", header(m, "ce_tillno"), header(m, "ce_training"))
	}
	m := got["b-1"][0]
	if string(m.Key) != "u9" || header(m, "ce_source") != "/pos/7" || header(m, "ce_traceparent") != "00-abc" {
		t.Errorf("binary: key %q source %q traceparent %q", m.Key, header(m, "ce_source"), header(m, "ce_traceparent"))
	}
	if ts, _ := time.Parse(time.RFC3339Nano, header(m, "ce_time")); ts.IsZero() || time.Since(ts) > time.Minute {
		t.Errorf("an event without time gets the receive time, got %q", header(m, "ce_time"))
	}
}

func TestAnonymousEventsAreKeyedByTheLinkedUser(t *testing.T) {
	e := start(t)
	post := func(id, typ, data string) {
		t.Helper()
		if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, body: ce(id, typ, data)}); code != 200 || a.Accepted != 1 {
			t.Fatalf("%s: %d %+v", id, code, a)
		}
	}
	post("before", event.ProductViewed, `{"anonymous_id":"visitor-7","product":{"sku":"S"}}`)
	post("identify", event.Identify, `{"user_id":"cust-42","anonymous_id":"visitor-7"}`)
	post("after", event.ProductViewed, `{"anonymous_id":"visitor-7","product":{"sku":"S"}}`)
	post("alias", event.Alias, `{"user_id":"cust-42","previous_id":"device-9"}`)
	post("aliased", event.CartViewed, `{"anonymous_id":"device-9"}`)
	got := e.byID(t, 5, event.TopicBrowse, event.TopicIdentify, event.TopicCart)
	for id, want := range map[string]string{"before": "anon:visitor-7", "identify": "cust-42", "after": "cust-42", "alias": "cust-42", "aliased": "cust-42"} {
		if k := string(got[id][0].Key); k != want {
			t.Errorf("%s: key %q, want %q", id, k, want)
		}
	}
}

func TestSchemaViolationsAreRejectedByFieldAndDeadLettered(t *testing.T) {
	e := start(t)
	body := "[" + strings.Join([]string{
		ce("ok-1", event.ProductViewed, sample[event.ProductViewed]),
		ce("bad-1", event.OrderCompleted, `{"user_id":"u1","order_id":"o2","total":19.99,"currency":"usd"}`),
		ce("ok-2", event.CartViewed, sample[event.CartViewed]),
		`{"specversion":"1.0","id":"bad-2","source":"/s","type":"segflow.browse.teleported","data":{}}`,
		`{"id":"bad-3","type":"` + event.PageViewed + `","data":{"user_id":"u"}}`,
		`42`,
	}, ",") + "]"
	code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, ctype: "application/cloudevents-batch+json", body: body})
	if code != 200 || a.Accepted != 2 || len(a.Rejected) != 4 {
		t.Fatalf("got %d %+v, want 200 with 2 accepted and 4 rejected", code, a)
	}
	want := map[int][]string{
		1: {"/data/currency:pattern", "/data/total:money"},
		3: {"/type:enum"},
		4: {"/source:required", "/specversion:required"},
		5: {":format"},
	}
	for _, r := range a.Rejected {
		var got []string
		for _, fe := range r.Errors {
			got = append(got, fe.Field+":"+fe.Rule)
			if fe.Message == "" {
				t.Errorf("index %d: %s has no message", r.Index, fe.Field)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[r.Index]) {
			t.Errorf("index %d: errors %v, want %v", r.Index, got, want[r.Index])
		}
	}
	dead := e.kafka.ReadTopic(t, event.TopicInvalid, 4, 5*time.Second)
	reasons := map[string]int{}
	for _, m := range dead {
		if header(m, "ce_type") != event.Rejected {
			t.Errorf("dead letter type %q", header(m, "ce_type"))
		}
		var d struct {
			Reason string             `json:"reason"`
			Errors []event.FieldError `json:"errors"`
			Format string             `json:"format"`
			Index  int                `json:"index"`
			Raw    json.RawMessage    `json:"raw"`
		}
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		reasons[d.Reason]++
		if len(d.Errors) == 0 || d.Format != "cloudevents" || len(d.Raw) == 0 {
			t.Errorf("dead letter %s lacks errors, format or the raw event", m.Value)
		}
		if d.Index == 1 && !bytes.Contains(d.Raw, []byte(`"total":19.99`)) {
			t.Errorf("dead letter does not keep the event as sent: %s", d.Raw)
		}
	}
	if fmt.Sprint(reasons) != "map[invalid:2 malformed:1 unknown_type:1]" {
		t.Errorf("reasons %v", reasons)
	}
	e.byID(t, 2, event.TopicBrowse, event.TopicCart)
}

func TestASingleInvalidEventIsABadRequest(t *testing.T) {
	e := start(t)
	for name, r := range map[string]request{
		"schema":   {path: "/v1/events", key: webKey, body: ce("x", event.ProductViewed, `{"user_id":"u"}`)},
		"not json": {path: "/v1/events", key: webKey, body: `{"specversion":`},
		"segment":  {path: "/v1/track", key: webKey, body: `{"messageId":"m1","event":"Order Completed","properties":{"order_id":"o"}}`},
	} {
		if code, a, _ := e.post(t, r); code != 400 || len(a.Rejected) != 1 || len(a.Rejected[0].Errors) == 0 {
			t.Errorf("%s: got %d %+v, want 400 naming the field", name, code, a)
		}
	}
	e.kafka.ReadTopic(t, event.TopicInvalid, 3, 5*time.Second)
}

func TestRetriedEventsAreWrittenOnce(t *testing.T) {
	e := start(t)
	body := "[" + ce("d-1", event.ProductViewed, sample[event.ProductViewed]) + "," + ce("d-2", event.CartViewed, sample[event.CartViewed]) + "," + ce("d-1", event.ProductViewed, sample[event.ProductViewed]) + "]"
	if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, body: body}); code != 200 || a.Accepted != 2 || a.Duplicates != 1 {
		t.Fatalf("first: %d %+v, want 2 accepted and 1 duplicate", code, a)
	}
	if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, body: body}); code != 200 || a.Accepted != 0 || a.Duplicates != 3 {
		t.Fatalf("retry: %d %+v, want 3 duplicates", code, a)
	}
	// The same id from another source is another event.
	if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, body: strings.Replace(ce("d-1", event.ProductViewed, sample[event.ProductViewed]), "/shop/web", "/shop/app", 1)}); code != 200 || a.Accepted != 1 {
		t.Fatalf("other source: %d %+v", code, a)
	}
	got := e.byID(t, 3, event.TopicBrowse, event.TopicCart)
	if len(got["d-1"]) != 2 || len(got["d-2"]) != 1 {
		t.Errorf("d-1 written %d times (two sources), d-2 %d times", len(got["d-1"]), len(got["d-2"]))
	}
}

func TestConcurrentRetriesWriteOnce(t *testing.T) {
	e := start(t)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := e.post(t, request{path: "/v1/events", key: webKey, body: ce("race-1", event.OrderCompleted, sample[event.OrderCompleted])})
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 && code != 503 {
			t.Errorf("status %d, want 200 or 503", code)
		}
	}
	e.byID(t, 1, event.TopicPurchase)
}

func TestRequestsWithoutAValidWriteKeyAreUnauthorized(t *testing.T) {
	e := start(t)
	body := ce("a-1", event.CartViewed, sample[event.CartViewed])
	for name, r := range map[string]request{
		"no key":          {path: "/v1/events", body: body},
		"unknown key":     {path: "/v1/events", key: "nope", body: body},
		"segment no key":  {path: "/v1/track", body: `{"messageId":"m","userId":"u","event":"x"}`},
		"segment bad key": {path: "/v1/track", body: `{"messageId":"m","userId":"u","event":"x","writeKey":"nope"}`},
		"bearer unknown":  {path: "/v1/events", body: body, headers: map[string]string{"Authorization": "Bearer nope"}},
	} {
		if code, _, _ := e.post(t, r); code != 401 {
			t.Errorf("%s: status %d, want 401", name, code)
		}
	}
	if code, _, _ := e.post(t, request{path: "/v1/events", body: body, headers: map[string]string{"Authorization": "Bearer " + webKey}}); code != 200 {
		t.Errorf("bearer: status %d, want 200", code)
	}
	if n := len(e.kafka.ReadTopic(t, event.TopicInvalid, 0, time.Second)); n != 0 {
		t.Errorf("unauthenticated requests left %d dead letters", n)
	}
}

func TestOversizedRequestsAreRefused(t *testing.T) {
	e := start(t, func(c *collector.Config) { c.MaxBodyBytes = 4096; c.MaxEvents = 3 })
	big := ce("big", event.Interaction, `{"user_id":"u","name":"`+strings.Repeat("x", 5000)+`"}`)
	var many []string
	for i := range 4 {
		many = append(many, ce(fmt.Sprint("m", i), event.CartViewed, sample[event.CartViewed]))
	}
	for name, r := range map[string]request{
		"plain body":         {path: "/v1/events", key: webKey, body: big},
		"gzip that inflates": {path: "/v1/events", key: webKey, body: `[` + strings.Repeat(" ", 1<<20) + `]`, gzip: true},
		"too many events":    {path: "/v1/events", key: webKey, body: "[" + strings.Join(many, ",") + "]"},
		"segment batch":      {path: "/v1/batch", key: webKey, body: `{"batch":[` + strings.Repeat(`{"type":"track"},`, 3) + `{"type":"track"}]}`},
	} {
		if code, _, _ := e.post(t, r); code != 413 {
			t.Errorf("%s: status %d, want 413", name, code)
		}
	}
	if code, a, _ := e.post(t, request{path: "/v1/events", key: webKey, body: ce("small", event.CartViewed, sample[event.CartViewed]), gzip: true}); code != 200 || a.Accepted != 1 {
		t.Errorf("gzip within limits: %d %+v", code, a)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	e := start(t)
	if !e.redis.Real {
		t.Skip("needs redis-server to stop it")
	}
	e.redis.Stop(t)
	code, _, h := e.post(t, request{path: "/v1/events", key: webKey, body: ce("r-1", event.CartViewed, sample[event.CartViewed])})
	if code != 503 || h.Get("Retry-After") != "3" {
		t.Fatalf("status %d Retry-After %q, want 503 and 3", code, h.Get("Retry-After"))
	}
}

// TestKafkaOutageLosesNothing takes the broker away while a client keeps
// sending, the way Segment's libraries do: retry every batch until it is
// answered 2xx. After the broker returns every event must be on Kafka exactly
// once.
func TestKafkaOutageLosesNothing(t *testing.T) {
	e := start(t, func(c *collector.Config) { c.WriteTimeout = 500 * time.Millisecond })
	var down atomic.Bool
	e.kafka.Cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		e.kafka.Cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker unreachable"), true
		}
		return nil, nil, false
	})
	const batches, perBatch = 30, 10
	unavailable := 0
	for b := range batches {
		if b == 5 {
			down.Store(true)
		}
		var evs []string
		for i := range perBatch {
			evs = append(evs, ce(fmt.Sprintf("o-%d-%d", b, i), event.OrderCompleted, sample[event.OrderCompleted]))
		}
		body := "[" + strings.Join(evs, ",") + "]"
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, a, h := e.post(t, request{path: "/v1/events", key: webKey, body: body})
			if code == 200 {
				if a.Accepted+a.Duplicates != perBatch {
					t.Fatalf("batch %d: %+v", b, a)
				}
				break
			}
			if code != 503 || h.Get("Retry-After") == "" {
				t.Fatalf("batch %d: status %d, want 200 or 503 with Retry-After", b, code)
			}
			unavailable++
			if unavailable == 5 {
				down.Store(false) // the outage ends while the client retries
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch %d never accepted", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if unavailable == 0 {
		t.Fatal("the outage was never noticed")
	}
	got := e.byID(t, batches*perBatch, event.TopicPurchase)
	for id, ms := range got {
		if len(ms) != 1 {
			t.Errorf("%s written %d times", id, len(ms))
		}
	}
	t.Logf("%d answers were 503 during the outage", unavailable)
}

func TestCORSAllowsCredentialsOnlyToConfiguredOrigins(t *testing.T) {
	open := start(t)
	closed := start(t, func(c *collector.Config) { c.AllowedOrigins = []string{"https://shop.example"} })
	for _, tc := range []struct {
		name, url, origin     string
		allowOrigin, withCred string
	}{
		{"no configured origins: any page, without credentials", open.url, "https://evil.example", "*", ""},
		{"a configured origin, with credentials", closed.url, "https://shop.example", "https://shop.example", "true"},
		{"an origin not configured", closed.url, "https://evil.example", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pre, _ := http.NewRequest("OPTIONS", tc.url+"/v1/track", nil)
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			post, _ := http.NewRequest("POST", tc.url+"/v1/track", strings.NewReader(`{"messageId":"cors-1","anonymousId":"v","event":"Cart Viewed","writeKey":"`+webKey+`"}`))
			post.Header.Set("Content-Type", "text/plain")
			for _, req := range []*http.Request{pre, post} {
				req.Header.Set("Origin", tc.origin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					t.Errorf("%s: status %d", req.Method, resp.StatusCode)
				}
				h := resp.Header
				if h.Get("Access-Control-Allow-Origin") != tc.allowOrigin || h.Get("Access-Control-Allow-Credentials") != tc.withCred {
					t.Errorf("%s: allow-origin %q credentials %q, want %q and %q", req.Method, h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"), tc.allowOrigin, tc.withCred)
				}
				if tc.allowOrigin == tc.origin && !slices.Contains(h.Values("Vary"), "Origin") {
					t.Errorf("%s: an echoed origin without Vary: Origin", req.Method)
				}
				if req == pre && tc.allowOrigin != "" && h.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
					t.Errorf("allow-headers %q", h.Get("Access-Control-Allow-Headers"))
				}
			}
		})
	}
}

func TestEverySegmentCallLandsOnItsTopic(t *testing.T) {
	e := start(t)
	sentAt := time.Now().UTC().Add(10 * time.Minute) // the client's clock is 10 minutes fast
	ts := sentAt.Add(-time.Minute)
	calls := []struct {
		path, body, id, topic, typ, key string
	}{
		{"/v1/track", `{"messageId":"t-1","anonymousId":"v-1","event":"Product Viewed","properties":{"product_id":"P1","price":19.99}}`, "t-1", event.TopicBrowse, event.ProductViewed, "anon:v-1"},
		{"/v1/track", `{"messageId":"t-2","userId":"u-1","event":"Product Added","properties":{"cart_id":"c","product_id":"P1","price":19.99,"quantity":2}}`, "t-2", event.TopicCart, event.ProductAdded, "u-1"},
		{"/v1/track", `{"messageId":"t-3","userId":"u-1","event":"Order Completed","properties":{"order_id":"o-1","total":39.98,"products":[{"product_id":"P1","price":19.99,"quantity":2}]}}`, "t-3", event.TopicPurchase, event.OrderCompleted, "u-1"},
		{"/v1/track", `{"messageId":"t-4","userId":"u-1","event":"Newsletter Opened"}`, "t-4", event.TopicBrowse, event.Interaction, "u-1"},
		{"/v1/page", `{"messageId":"p-1","anonymousId":"v-1","name":"Home","properties":{"path":"/"}}`, "p-1", event.TopicBrowse, event.PageViewed, "anon:v-1"},
		{"/v1/screen", `{"messageId":"s-1","userId":"u-1","name":"Cart"}`, "s-1", event.TopicBrowse, event.PageViewed, "u-1"},
		{"/v1/identify", `{"messageId":"i-1","userId":"u-1","anonymousId":"v-2","traits":{"email":"a@b.c"}}`, "i-1", event.TopicIdentify, event.Identify, "u-1"},
		{"/v1/alias", `{"messageId":"a-1","userId":"u-1","previousId":"v-3"}`, "a-1", event.TopicIdentify, event.Alias, "u-1"},
	}
	for _, c := range calls {
		body := strings.TrimSuffix(c.body, "}") + fmt.Sprintf(`,"timestamp":%q,"sentAt":%q}`, ts.Format(time.RFC3339Nano), sentAt.Format(time.RFC3339Nano))
		if code, a, _ := e.post(t, request{path: c.path, key: posKey, body: body, gzip: c.id == "t-3"}); code != 200 || a.Accepted != 1 {
			t.Fatalf("%s %s: %d %+v", c.path, c.id, code, a)
		}
	}
	// A batch with its write key in the body, as browsers send it.
	batch := `{"writeKey":"` + webKey + `","batch":[{"type":"track","messageId":"b-1","anonymousId":"v-2","event":"Cart Viewed"},{"type":"page","messageId":"b-2","anonymousId":"v-3"}]}`
	if code, a, _ := e.post(t, request{path: "/v1/batch", ctype: "text/plain", body: batch}); code != 200 || a.Accepted != 2 {
		t.Fatalf("batch: %d %+v", code, a)
	}
	got := e.byID(t, len(calls)+2, event.Topics...)
	for _, c := range calls {
		m := got[c.id][0]
		if m.Topic != c.topic || header(m, "ce_type") != c.typ || string(m.Key) != c.key || header(m, "ce_source") != "/sources/pos-taipei" {
			t.Errorf("%s: topic %s type %s key %s source %s, want %s %s %s /sources/pos-taipei", c.id, m.Topic, header(m, "ce_type"), m.Key, header(m, "ce_source"), c.topic, c.typ, c.key)
		}
		if header(m, "ce_channel") != "pos" {
			t.Errorf("%s: channel %q, want the source's pos", c.id, header(m, "ce_channel"))
		}
		evTime, _ := time.Parse(time.RFC3339Nano, header(m, "ce_time"))
		recv, _ := time.Parse(time.RFC3339Nano, header(m, "ce_receivedat"))
		if skew := recv.Sub(evTime); skew < time.Minute-time.Second || skew > time.Minute+5*time.Second {
			t.Errorf("%s: event time %s is %s before receipt, want about 1m after skew correction", c.id, evTime, skew)
		}
	}
	// The identify and alias linked v-2 and v-3 to u-1 before the batch came.
	for _, id := range []string{"b-1", "b-2"} {
		if m := got[id][0]; string(m.Key) != "u-1" || header(m, "ce_source") != "/sources/web" {
			t.Errorf("%s: key %s source %s, want u-1 from /sources/web", id, m.Key, header(m, "ce_source"))
		}
	}
	if v := string(got["t-3"][0].Value); !strings.Contains(v, `"total":"39.98"`) {
		t.Errorf("order total not exact decimal: %s", v)
	}
}
