package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// secureBroker starts a broker that takes TLS connections from SCRAM-SHA-512
// user segflow, password right, only, and returns its address and CA.
func secureBroker(t *testing.T) (string, *testenv.CA) {
	ca := testenv.NewCA(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(ca.ServerTLS(t)), kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA512, "segflow", "right"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0], ca
}

func TestSegflowCreatesItsTopicsWithTheirRetentionOnASecuredBroker(t *testing.T) {
	// What each topic keeps, by what it holds: facts are kept for the
	// retention asked, forever by default; the summaries, each a customer's
	// latest state, are compacted.
	const day = "86400000"
	for _, tc := range []struct {
		name      string
		flags     []string
		retention string
	}{
		{"by default every message is kept forever", nil, "-1"},
		{"--topic-retention 720h keeps 30 days", []string{"--topic-retention", "720h"}, "2592000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broker, ca := secureBroker(t)
			// The password from the environment, as the flag's help advises.
			t.Setenv("SEGFLOW_KAFKA_SASL_PASSWORD", "right")
			cfg, err := parseConfig("profile-updater", append([]string{"--kafka-brokers", broker, "--redis-addr", "127.0.0.1:1",
				"--kafka-tls-ca", ca.File, "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", "segflow", "--partitions", "2"}, tc.flags...))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(cfg.String(), "right") {
				t.Errorf("the start-up log shows the password: %s", cfg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ensureTopics(ctx, cfg.brokers(), cfg); err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]string{}
			for _, name := range []string{"browse", "cart", "purchase", "identify", "events.invalid", "profiles", "triggers", "decisions", "triggers.undelivered"} {
				want[name] = map[string]string{"cleanup.policy": "delete", "retention.ms": tc.retention}
			}
			want["profiles.summaries"] = map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": day}
			req := &kafka.DescribeConfigsRequest{}
			for name := range want {
				req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
					ResourceType: kafka.ResourceTypeTopic, ResourceName: name,
					ConfigNames: []string{"cleanup.policy", "retention.ms", "min.compaction.lag.ms"},
				})
			}
			resp, err := cfg.transport.kafka.Client(cfg.brokers()).DescribeConfigs(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Resources) != len(want) {
				t.Errorf("%d topics described, want %d", len(resp.Resources), len(want))
			}
			for _, r := range resp.Resources {
				if r.Error != nil {
					t.Errorf("describe %s: %v", r.ResourceName, r.Error)
					continue
				}
				got := map[string]string{}
				for _, e := range r.ConfigEntries {
					got[e.ConfigName] = e.ConfigValue
				}
				for k, v := range want[r.ResourceName] {
					if got[k] != v {
						t.Errorf("topic %s: %s=%q, want %q", r.ResourceName, k, got[k], v)
					}
				}
			}
		})
	}
}

func TestSegflowRefusedByTheBrokerStopsAtOnceAndSaysWhy(t *testing.T) {
	broker, ca := secureBroker(t)
	t.Setenv("SEGFLOW_KAFKA_SASL_PASSWORD", "wrong")
	cfg, err := parseConfig("profile-updater", []string{"--kafka-brokers", broker, "--redis-addr", "127.0.0.1:1",
		"--kafka-tls-ca", ca.File, "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-username", "segflow"})
	if err != nil {
		t.Fatal(err)
	}
	// ensureTopics retries 30 times a second apart while the cluster starts;
	// a denial ends it at the first.
	err = ensureTopics(context.Background(), cfg.brokers(), cfg)
	if !stream.Denied(err) || !strings.Contains(err.Error(), "SASL Authentication Failed") || !strings.Contains(err.Error(), broker) {
		t.Errorf("%v, want the broker %s refusing the SASL login", err, broker)
	}
}

func TestTransportFlagsThatCannotWorkAreRefusedBeforeAnyConnection(t *testing.T) {
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "client")
	production := []string{"--kafka-brokers", "k1:9092", "--redis-addr", "r:6379"}
	for _, tc := range []struct {
		name  string
		args  []string
		error string // "" accepted
	}{
		{"every Kafka and Redis security flag together", append(production, "--kafka-tls-ca", ca.File, "--kafka-tls-cert", cert.CertFile, "--kafka-tls-key", cert.KeyFile,
			"--kafka-tls-server-name", "kafka.internal", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u", "--kafka-sasl-password", "p",
			"--redis-tls-ca", ca.File, "--redis-username", "u", "--redis-password", "p"), ""},
		{"--kafka-tls alone trusts the system's CAs", append(production, "--kafka-tls"), ""},
		{"an unknown SASL mechanism", append(production, "--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-username", "u"), "--kafka-sasl-mechanism"},
		{"a SASL mechanism without a user", append(production, "--kafka-sasl-mechanism", "PLAIN"), "user name"},
		{"a SASL user without a mechanism", append(production, "--kafka-sasl-username", "u"), "need --kafka-sasl-mechanism"},
		{"a CA file that does not exist", append(production, "--kafka-tls-ca", "/no/such/ca.pem"), "--kafka-tls-ca"},
		{"a CA file without a certificate", append(production, "--redis-tls-ca", cert.KeyFile), "--redis-tls-ca"},
		{"a client certificate without its key", append(production, "--kafka-tls-cert", cert.CertFile), "go together"},
		{"Kafka TLS with the embedded broker", []string{"--redis-addr", "r:6379", "--kafka-tls"}, "need --kafka-brokers"},
		{"a Redis user with the embedded Redis", []string{"--kafka-brokers", "k1:9092", "--redis-username", "u"}, "need --redis-addr"},
		{"a negative retention", append(production, "--topic-retention", "-1h"), "--topic-retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("profile-updater", tc.args)
			switch {
			case tc.error == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
				t.Fatalf("%v, want an error about %s", err, tc.error)
			}
		})
	}
}

func TestSegflowRefusedByTheRedisClusterStopsAtOnceAndSaysWhy(t *testing.T) {
	ca := testenv.NewCA(t)
	r := testenv.StartSecureCluster(t, testenv.RedisSecurity{CA: ca, Users: []string{"default off", "segflow on >right ~* &* +@all"}})
	k := testenv.StartKafka(t)
	t.Setenv("SEGFLOW_REDIS_PASSWORD", "wrong")
	cfg, err := parseConfig("profile-updater", []string{"--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--redis-cluster",
		"--redis-username", "segflow", "--redis-tls-ca", ca.File, "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	// Connecting waits 30 s for a cluster that does not answer yet; a
	// refusal ends it at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = serve(ctx, "profile-updater", cfg)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "WRONGPASS") || !strings.Contains(err.Error(), r.Addr) {
		t.Errorf("%v, want the cluster %s refusing the login", err, r.Addr)
	}
}
