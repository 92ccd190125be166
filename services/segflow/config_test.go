package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/api"
)

func TestAPITokensAreReadOnlyUnlessTheirPairGivesTheAdminScope(t *testing.T) {
	production := []string{"--kafka-brokers", "k1:9092", "--redis-addr", "r:6379"}
	read, admin := api.ScopeRead, api.ScopeAdmin
	for _, tc := range []struct {
		name, tokens string
		want         map[string]api.Holder // nil: refused
	}{
		{"a name=token pair reads", "crm=t-1", map[string]api.Holder{"t-1": {Name: "crm", Scope: read}}},
		{"name:admin=token is an admin token", "ops:admin=t-2", map[string]api.Holder{"t-2": {Name: "ops", Scope: admin}}},
		{"name:read=token reads", "crm:read=t-1", map[string]api.Holder{"t-1": {Name: "crm", Scope: read}}},
		{"a token holding ':' and '=' is taken whole, and reads", "crm=t:admin=x", map[string]api.Holder{"t:admin=x": {Name: "crm", Scope: read}}},
		{"an admin token holding ':' and '=' is taken whole", "ops:admin=a:b=c", map[string]api.Holder{"a:b=c": {Name: "ops", Scope: admin}}},
		{"spaces around the parts are dropped", " crm : admin = t-1 , bi=t-2", map[string]api.Holder{"t-1": {Name: "crm", Scope: admin}, "t-2": {Name: "bi", Scope: read}}},
		{"an unknown scope is refused", "crm:write=t-1", nil},
		{"an empty scope is refused", "crm:=t-1", nil},
		{"a pair without a token is refused", "crm:admin=", nil},
		{"a pair without a name is refused", ":admin=t-1", nil},
		{"a pair without '=' is refused", "crm:admin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig("api", append(production, "--api-tokens", tc.tokens))
			if tc.want == nil {
				if err == nil {
					toks, _ := cfg.apiTokens()
					t.Fatalf("accepted as %v", toks)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if toks, _ := cfg.apiTokens(); !maps.Equal(toks, tc.want) {
				t.Fatalf("tokens %v, want %v", toks, tc.want)
			}
		})
	}
}

func TestAnErrorAboutATokenDoesNotShowIt(t *testing.T) {
	production := []string{"--kafka-brokers", "k1:9092", "--redis-addr", "r:6379"}
	for _, tokens := range []string{"crm:write=s3cret-1", "s3cret-1", "crm=s3cret-1,bi=s3cret-1"} {
		_, err := parseConfig("api", append(production, "--api-tokens", tokens))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("--api-tokens %s: error %v, want one that does not show the token", tokens, err)
		}
	}
}

func TestAWriteKeyTakesNoScope(t *testing.T) {
	_, err := parseConfig("collector", []string{"--kafka-brokers", "k1:9092", "--redis-addr", "r:6379", "--write-keys", "web:admin=k-1"})
	if err == nil {
		t.Fatal("a write key with a scope was accepted")
	}
}

func TestTheEmbeddedTokenIsAnAdminToken(t *testing.T) {
	cfg, err := parseConfig("run", []string{"--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if toks, _ := cfg.apiTokens(); toks[devAPIToken].Scope != api.ScopeAdmin {
		t.Errorf("embedded tokens %v, want %s with the admin scope", toks, devAPIToken)
	}
}

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
		{"the collector on real Kafka and Redis listens on every interface", "collector", args(production, []string{"--write-keys", "web=k-1"}), ":8080", ""},
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
