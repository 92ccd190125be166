package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// TestABroadcastMadeThroughTheAPIIsDecidedByTheTriggerService runs `segflow
// run` with the example campaigns, sends an order, makes a broadcast to the
// new buyers and waits for the trigger service to decide its one member.
func TestABroadcastMadeThroughTheAPIIsDecidedByTheTriggerService(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg, err := parseConfig("run", []string{"--http-addr", addr, "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0",
		"--partitions", "2", "--log-level", "warn", "--campaigns", "../../deploy/campaigns.yaml"})
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
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+devAPIToken)
		return do(t, req)
	}

	req, _ := http.NewRequest("POST", base+"/v1/track", strings.NewReader(`{"messageId":"m-1","userId":"cust-1","event":"Order Completed","properties":{"order_id":"1","total":12.5,"currency":"USD"}}`))
	req.SetBasicAuth(devWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := call("GET", "/v1/members?q=N", "")
		if strings.Contains(body, `"cust-1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the buyer never reached the audience: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, body := call("POST", "/v1/broadcasts", `{"id":"welcome-points","campaign":"anniversary_points","audience":"N","schedule":{"kind":"now"}}`); status != 201 {
		t.Fatalf("POST /v1/broadcasts: %d %s", status, body)
	}
	for {
		_, body := call("GET", "/v1/broadcasts/welcome-points", "")
		var v struct {
			Progress struct {
				Status   string           `json:"status"`
				Decided  int              `json:"decided"`
				Outcomes map[string]int64 `json:"outcomes"`
			} `json:"progress"`
		}
		_ = json.Unmarshal([]byte(body), &v)
		if v.Progress.Status == "done" {
			// The buyer gave no consent to email: a suppression, counted.
			if v.Progress.Decided != 1 || v.Progress.Outcomes["consent"]+v.Progress.Outcomes["holdout"] != 1 {
				t.Errorf("broadcast done: %s", body)
			}
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("the broadcast was never decided: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
