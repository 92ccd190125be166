package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// TestEmbeddedPipelineServesTheReadAPIAndDashboard runs `segflow run` in
// embedded mode and checks that the read API (with the embedded token) and
// the dashboard share the collector's port, and that an order sent to the
// collector reaches the API's counts and profile.
func TestEmbeddedPipelineServesTheReadAPIAndDashboard(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg, err := parseConfig("run", []string{"--http-addr", addr, "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0",
		"--partitions", "2", "--log-level", "warn", "--waterfall", "../../deploy/waterfall.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "run", cfg) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	base := "http://" + addr
	waitFor(t, base+"/readyz")

	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("/v1/counts", ""); status != 401 {
		t.Errorf("counts without a token: %d", status)
	}
	if status, body := get("/dashboard/", ""); status != 200 || !strings.Contains(body, "dashboard.js") {
		t.Errorf("dashboard: %d %.100s", status, body)
	}
	if status, _ := get("/dashboard/dashboard.js", ""); status != 200 {
		t.Errorf("dashboard script: %d", status)
	}

	req, _ := http.NewRequest("POST", base+"/v1/track", strings.NewReader(`{"messageId":"m-1","userId":"cust-1","event":"Order Completed","properties":{"order_id":"1","total":12.5,"currency":"USD","products":[{"sku":"b1","category":"books"}]}}`))
	req.SetBasicAuth(devWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The order reaches the profile, and its change the index.
	deadline := time.Now().Add(30 * time.Second)
	var inWaterfall []string // the waterfall segments counted
	for {
		status, body := get("/v1/counts", devAPIToken)
		var c struct {
			Buyers    int              `json:"buyers"`
			Stages    map[string]int64 `json:"stages"`
			Waterfall map[string]int64 `json:"waterfall"`
		}
		_ = json.Unmarshal([]byte(body), &c)
		inWaterfall = inWaterfall[:0]
		for s, n := range c.Waterfall {
			for range n {
				inWaterfall = append(inWaterfall, s)
			}
		}
		if status == 200 && c.Buyers == 1 && c.Stages["N"] == 1 && len(inWaterfall) == 1 {
			break
		}
		if time.Now().After(deadline) {
			ps, pb := get("/v1/profiles/cust-1", devAPIToken)
			t.Fatalf("counts never showed the order: %d %.300s; profile %d %s", status, body, ps, pb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	status, body := get("/v1/profiles/cust-1", devAPIToken)
	if status != 200 || !strings.Contains(body, `"historical": "12.50"`) {
		t.Errorf("profile: %d %s", status, body)
	}
	// The example waterfall of deploy/ puts the customer in one segment,
	// which the profile shows.
	if !strings.Contains(body, `"waterfall": "`+inWaterfall[0]+`"`) {
		t.Errorf("profile: %s, want it in waterfall segment %s", body, inWaterfall[0])
	}
}

func TestAPITokensAreParsedAndMasked(t *testing.T) {
	t.Setenv("SEGFLOW_KAFKA_BROKERS", "k1:9092")
	t.Setenv("SEGFLOW_REDIS_ADDR", "r:6379")
	cfg, err := parseConfig("api", []string{"--api-tokens", "crm=tok-1, analyst=tok-2"})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := cfg.apiTokens()
	if toks["tok-1"].Name != "crm" || toks["tok-2"].Name != "analyst" || len(toks) != 2 {
		t.Errorf("tokens %v", toks)
	}
	if s := cfg.String(); strings.Contains(s, "tok-1") || strings.Contains(s, "tok-2") {
		t.Errorf("printed config shows a token: %s", s)
	}
	if _, err := parseConfig("api", nil); err == nil {
		t.Error("the api command without tokens must be refused")
	}
	if _, err := parseConfig("api", []string{"--api-tokens", "a=x,b=x"}); err == nil {
		t.Error("one token for two names must be refused")
	}
}

// TestAPICommandServesTheAPIWithoutTheCollector runs `segflow api` alone.
func TestAPICommandServesTheAPIWithoutTheCollector(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg, err := parseConfig("api", []string{"--http-addr", addr, "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0", "--partitions", "2", "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failed test stops serve too
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "api", cfg) }()
	base := "http://" + addr
	waitFor(t, base+"/readyz")
	for path, want := range map[string]int{"/v1/counts": 200, "/v1/openapi.json": 200, "/dashboard/": 200} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+devAPIToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 || resp.StatusCode == 401 {
		t.Errorf("the api command answers the collector's route: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
