package health_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/segflow/segflow/pkg/health"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestReadinessSaysOnlyReadyOrNotAndLogsWhy(t *testing.T) {
	r := testenv.StartRedis(t)
	if !r.Real {
		t.Skip("needs redis-server to stop it")
	}
	rdb := r.Client(t)
	core, logs := observer.New(zapcore.WarnLevel)
	mux := http.NewServeMux()
	health.Register(mux, prometheus.NewRegistry(), map[string]health.Check{
		"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
	}, zap.New(core))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 {
		t.Fatalf("redis up: %d %s, want 200", code, body)
	}

	r.Stop(t)
	for range 3 {
		code, body := get()
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("answer %q is not JSON: %v", body, err)
		}
		if code != 503 || len(got) != 1 || got["status"] != "unavailable" {
			t.Errorf("redis down: %d %s, want 503 with only the status", code, body)
		}
		if strings.Contains(body, r.Addr) || strings.Contains(body, "redis") {
			t.Errorf("the answer names the dependency or its address: %s", body)
		}
	}
	entries := logs.FilterMessage("not ready").All()
	if len(entries) != 1 {
		t.Fatalf("%d warnings for 3 failed checks within a minute, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["check"] != "redis" || !strings.Contains(fields["error"].(string), r.Addr) {
		t.Errorf("the warning has %v, want the check and its error with the address", fields)
	}
}
