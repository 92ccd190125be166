package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// TestRunOnARedisClusterCollectsAppliesAndServes runs `segflow run` on a
// 3-master Redis Cluster, given all its seeds with --redis-cluster or one
// seed to detect it from, or secured (TLS only, on the cluster bus too, a
// client certificate required, the default user off), sends orders of
// customers whose keys live on every master through the collector, and
// reads their profiles and the counts through the read API.
func TestRunOnARedisClusterCollectsAppliesAndServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// redis starts the cluster and returns the flags that reach it.
		redis func(t *testing.T) []string
	}{
		{"every seed and --redis-cluster", func(t *testing.T) []string {
			return []string{"--redis-addr", testenv.StartCluster(t).Addr, "--redis-cluster"}
		}},
		{"one seed, cluster mode detected", func(t *testing.T) []string {
			return []string{"--redis-addr", strings.Split(testenv.StartCluster(t).Addr, ",")[1]}
		}},
		{"TLS with a client certificate and an ACL user, one seed and --redis-cluster", func(t *testing.T) []string {
			ca := testenv.NewCA(t)
			r := testenv.StartSecureCluster(t, testenv.RedisSecurity{CA: ca, ClientCerts: true, Users: []string{"default off", "segflow on >right ~* &* +@all"}})
			cert := ca.Issue(t, "segflow")
			// The password from the environment, as the flag's help advises.
			t.Setenv("SEGFLOW_REDIS_PASSWORD", "right")
			return []string{"--redis-addr", strings.Split(r.Addr, ",")[2], "--redis-cluster", "--redis-username", "segflow",
				"--redis-tls-ca", ca.File, "--redis-tls-cert", cert.CertFile, "--redis-tls-key", cert.KeyFile}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testenv.StartKafka(t)
			addr := testenv.FreeAddr(t)
			args := append([]string{"--http-addr", addr, "--kafka-brokers", k.Brokers[0], "--partitions", "2", "--log-level", "warn",
				"--write-keys", "web=wk", "--api-tokens", "crm=tok"}, tc.redis(t)...)
			cfg, err := parseConfig("run", args)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serve(ctx, "run", cfg) }()
			defer func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("serve: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("serve did not stop")
				}
			}()
			base := "http://" + addr
			waitFor(t, base+"/readyz")

			const customers = 12
			for i := range customers {
				body := fmt.Sprintf(`{"messageId":"m-%d","userId":"cust-%d","event":"Order Completed","properties":{"order_id":"1","total":%d.5,"currency":"USD"}}`, i, i, 10+i)
				req, _ := http.NewRequest("POST", base+"/v1/track", strings.NewReader(body))
				req.SetBasicAuth("wk", "")
				status, b := do(t, req)
				if status != 200 || !strings.Contains(b, `"accepted":1`) {
					t.Fatalf("track: %d %s", status, b)
				}
			}
			get := func(path string) (int, string) {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer tok")
				return do(t, req)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				status, body := get("/v1/counts")
				var c struct {
					Buyers int `json:"buyers"`
				}
				_ = json.Unmarshal([]byte(body), &c)
				if status == 200 && c.Buyers == customers {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("counts never showed %d buyers: %d %.300s", customers, status, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for i := range customers {
				status, body := get(fmt.Sprintf("/v1/profiles/cust-%d", i))
				if want := fmt.Sprintf(`"historical": "%d.50"`, 10+i); status != 200 || !strings.Contains(body, want) {
					t.Errorf("profile of cust-%d: %d %.300s, want %s", i, status, body, want)
				}
			}
		})
	}
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
