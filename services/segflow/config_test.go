package main

import (
	"strings"
	"testing"
)

func TestTheEmbeddedPipelineListensOnThisMachineOnlyWhileItsSecretsAreWellKnown(t *testing.T) {
	embedded := []string{"--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0"}
	production := []string{"--kafka-brokers", "k1:9092", "--redis-addr", "r:6379"}
	own := []string{"--write-keys", "web=k-1", "--api-tokens", "crm=t-1"}
	args := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		cmd     string
		args    []string
		addr    string // the address listened on, if accepted
		refused string // the flags the refusal names, if refused
	}{
		{"run without an address listens on loopback", "run", embedded, "127.0.0.1:8080", ""},
		{"the api command without an address listens on loopback", "api", embedded, "127.0.0.1:8080", ""},
		{"the collector on real Kafka and Redis listens on every interface", "collector", args(production, own), ":8080", ""},
		{"run on every interface with the embedded secrets is refused", "run", args(embedded, []string{"--http-addr", ":8080"}), "", "--write-keys and --api-tokens"},
		{"run on 0.0.0.0 with the embedded secrets is refused", "run", args(embedded, []string{"--http-addr", "0.0.0.0:8080"}), "", "--write-keys and --api-tokens"},
		{"run on [::] with the embedded secrets is refused", "run", args(embedded, []string{"--http-addr", "[::]:8080"}), "", "--write-keys and --api-tokens"},
		{"run on a public address with the embedded secrets is refused", "run", args(embedded, []string{"--http-addr", "192.0.2.7:8080"}), "", "--write-keys and --api-tokens"},
		{"run on a host name with the embedded secrets is refused", "run", args(embedded, []string{"--http-addr", "segflow.example:8080"}), "", "--write-keys and --api-tokens"},
		{"run on every interface with its own write key but the embedded token is refused", "run", args(embedded, []string{"--http-addr", ":8080", "--write-keys", "web=k-1"}), "", "--api-tokens"},
		{"the collector on every interface with the write key dev is refused", "collector", args(production, []string{"--http-addr", ":8080", "--write-keys", "web=k-1,pos=dev"}), "", "--write-keys"},
		{"the api on every interface with the token dev is refused", "api", args(production, []string{"--http-addr", ":8080", "--api-tokens", "crm=dev"}), "", "--api-tokens"},
		{"the api command embedded on every interface is refused", "api", args(embedded, []string{"--http-addr", ":8080"}), "", "--api-tokens"},
		{"run on ::1 with the embedded secrets is accepted", "run", args(embedded, []string{"--http-addr", "[::1]:8080"}), "[::1]:8080", ""},
		{"run on localhost with the embedded secrets is accepted", "run", args(embedded, []string{"--http-addr", "localhost:9000"}), "localhost:9000", ""},
		{"run on 127.0.0.2 with the embedded secrets is accepted", "run", args(embedded, []string{"--http-addr", "127.0.0.2:8080"}), "127.0.0.2:8080", ""},
		{"run on every interface with secrets of its own is accepted", "run", args(embedded, own, []string{"--http-addr", ":8080"}), ":8080", ""},
		{"the profile-updater, which accepts no secret, on every interface is accepted", "profile-updater", args(embedded, []string{"--http-addr", ":8081"}), ":8081", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.cmd, tc.args)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused == "" && cfg.HTTPAddr != tc.addr:
				t.Fatalf("listens on %q, want %q", cfg.HTTPAddr, tc.addr)
			case tc.refused != "" && err == nil:
				t.Fatalf("accepted, listening on %q", cfg.HTTPAddr)
			case tc.refused != "" && (!strings.Contains(err.Error(), "--http-addr") || !strings.Contains(err.Error(), tc.refused+" hold")):
				t.Fatalf("refused with %q, want an error naming --http-addr and %s", err, tc.refused)
			}
		})
	}
}

func TestAnAddressTheEnvironmentSetsIsCheckedToo(t *testing.T) {
	t.Setenv("SEGFLOW_HTTP_ADDR", ":8080")
	if _, err := parseConfig("run", []string{"--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0"}); err == nil {
		t.Fatal("run started on every interface with the embedded secrets")
	}
}
