package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// TestEmbeddedPipelineServesAndShutsDown runs the binary's `run` command the
// way `make run` does, sends an event, checks health and metrics, and stops it
// as SIGTERM would.
func TestEmbeddedPipelineServesAndShutsDown(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg, err := parseConfig("run", []string{"--http-addr", addr, "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0", "--partitions", "2", "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failed test stops serve too
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "run", cfg) }()

	base := "http://" + addr
	waitFor(t, base+"/readyz")
	req, _ := http.NewRequest("POST", base+"/v1/track", strings.NewReader(`{"messageId":"m-1","userId":"cust-1","event":"Order Completed","properties":{"order_id":"1","total":12.5,"currency":"EUR"}}`))
	req.SetBasicAuth(devWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"accepted":1`) {
		t.Fatalf("track: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `segflow_collector_events_accepted_total{topic="purchase"} 1`) {
		t.Errorf("metrics do not count the accepted event:\n%s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want a clean shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestConfigComesFromFlagsAndEnvironment(t *testing.T) {
	t.Setenv("SEGFLOW_KAFKA_BROKERS", "k1:9092, k2:9092")
	t.Setenv("SEGFLOW_REDIS_ADDR", "r:6379")
	t.Setenv("SEGFLOW_WRITE_KEYS", "web=secret1,pos-taipei=secret2")
	t.Setenv("SEGFLOW_DEDUP_WINDOW", "1h")
	cfg, err := parseConfig("collector", []string{"--dedup-window", "2h"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.embedded() || strings.Join(cfg.brokers(), "|") != "k1:9092|k2:9092" || cfg.DedupWindow != 2*time.Hour {
		t.Errorf("brokers %v embedded %v window %v", cfg.brokers(), cfg.embedded(), cfg.DedupWindow)
	}
	keys, _ := cfg.writeKeys()
	if keys["secret2"].Name != "pos-taipei" || keys["secret2"].Channel != "pos" || keys["secret1"].Channel != "web" {
		t.Errorf("write keys %+v", keys)
	}
	if s := cfg.String(); strings.Contains(s, "secret1") || strings.Contains(s, "secret2") {
		t.Errorf("printed config shows a secret: %s", s)
	}

	t.Setenv("SEGFLOW_WRITE_KEYS", "")
	if _, err := parseConfig("collector", nil); err == nil {
		t.Error("production mode without write keys must be refused")
	}
	t.Setenv("SEGFLOW_WRITE_KEYS", "web")
	if _, err := parseConfig("collector", nil); err == nil {
		t.Error("a write key without = must be refused")
	}
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

// TestAFailingComponentStopsTheWholePipeline takes the HTTP port before `run`
// starts: the server fails, and serve must return that failure only after the
// consumers it started have stopped (before, it returned and left them
// running, and a failed consumer only logged "service stopped").
func TestAFailingComponentStopsTheWholePipeline(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, err := parseConfig("run", []string{"--http-addr", taken.Addr().String(), "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0", "--partitions", "1", "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(context.Background(), "run", cfg) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "http server") {
			t.Fatalf("serve returned %v, want the http server's failure", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve kept running after its http server failed")
	}
	if n := running("stream.(*Consumer).Run"); n > 0 {
		t.Errorf("%d consumers still run after serve returned", n)
	}
}

// running counts the goroutines that have fn on their stack.
func running(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), fn)
}
