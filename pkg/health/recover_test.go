package health_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/segflow/segflow/pkg/health"
)

func TestAHandlerThatPanicsIsAnswered500AndTheServerGoesOn(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/profiles/{id}", func(w http.ResponseWriter, r *http.Request) {
		var ids []string
		_ = ids[len(r.PathValue("id"))] // index out of range
	})
	mux.HandleFunc("GET /v1/secret", func(w http.ResponseWriter, r *http.Request) {
		panic("customer jane@example.com")
	})
	mux.HandleFunc("GET /v1/half", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic(errors.New("after the answer began"))
	})
	mux.HandleFunc("GET /v1/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	h, err := health.Recover(mux, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err == nil {
			b.WriteString(body["error"])
		}
		return resp.StatusCode, b.String()
	}
	for _, path := range []string{"/v1/profiles/c-1", "/v1/secret"} {
		if code, msg := get(path); code != http.StatusInternalServerError || msg != "internal error" {
			t.Errorf("GET %s: %d %q, want 500 \"internal error\"", path, code, msg)
		}
	}
	if code, _ := get("/v1/half"); code != http.StatusAccepted {
		t.Errorf("GET /v1/half: %d, want the 202 the handler had sent", code)
	}
	if code, _ := get("/v1/ok"); code != http.StatusOK {
		t.Errorf("GET /v1/ok after the panics: %d, want 200", code)
	}

	if n := panics(t, reg); n != 3 {
		t.Errorf("segflow_http_panics_total = %v, want 3", n)
	}
	if logs.Len() != 3 {
		t.Fatalf("%d error logs, want one per panic", logs.Len())
	}
	for _, e := range logs.All() {
		fields := e.ContextMap()
		if fields["stack"] == nil || fields["pattern"] == nil {
			t.Errorf("log %v: want the stack and the route pattern", fields)
		}
		for k, v := range fields {
			if s, ok := v.(string); ok && (strings.Contains(s, "jane@") || strings.Contains(s, "c-1")) {
				t.Errorf("log field %s = %q carries request data", k, s)
			}
		}
	}
	if got := logs.All()[0].ContextMap()["panic"]; !strings.Contains(got.(string), "index out of range") {
		t.Errorf("panic of a runtime error logged as %q, want its message", got)
	}
}

// panics returns segflow_http_panics_total as gathered from reg.
func panics(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "segflow_http_panics_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("segflow_http_panics_total is not registered")
	return 0
}
