package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestWithRedisDownRequestsAreAnsweredUnavailableAndLoggedOnceInAWhile stops
// redis-server under the API: every read answers 503 with Retry-After, as the
// collector does, and the outage is logged once, not once per request
// (before: 500 "internal error" and an error line per request).
func TestWithRedisDownRequestsAreAnsweredUnavailableAndLoggedOnceInAWhile(t *testing.T) {
	r := testenv.StartRedis(t)
	if !r.Real {
		t.Skip("needs a redis-server to stop")
	}
	rdb := r.Client(t)
	core, logs := observer.New(zapcore.WarnLevel)
	store := profile.New(rdb, profile.Config{})
	srv, err := api.New(api.Config{Tokens: map[string]api.Holder{token: {Name: "analyst"}}}, rdb, store, index.New(rdb, ""), noResults{}, nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	r.Stop(t)

	const requests = 20
	for _, path := range []string{"/v1/profiles/ana", "/v1/counts"} {
		for range requests / 2 {
			req, _ := http.NewRequest("GET", hs.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s with Redis down: %d, Retry-After %q; want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
	}
	if n := logs.Len(); n == 0 || n >= requests/2 {
		t.Errorf("%d warnings for %d failed requests, want a few", n, requests)
	}
}
