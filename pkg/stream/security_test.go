package stream_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// secured is a way of securing a broker, and the client security that
// matches it.
type secured struct {
	name   string
	broker func(ca *testenv.CA) []kfake.Opt
	client func(t *testing.T, ca *testenv.CA, password string) *stream.Security
}

func sasl(t *testing.T, mechanism, password string) *stream.Security {
	t.Helper()
	m, err := stream.NewSASL(mechanism, "segflow", password)
	if err != nil {
		t.Fatal(err)
	}
	return stream.NewSecurity(nil, m)
}

// mutualTLS is a broker that takes TLS connections from clients with a
// certificate of its CA only.
func mutualTLS(t *testing.T) func(ca *testenv.CA) []kfake.Opt {
	return func(ca *testenv.CA) []kfake.Opt {
		c := ca.ServerTLS(t)
		c.ClientAuth = tls.RequireAndVerifyClientCert
		return []kfake.Opt{kfake.TLS(c)}
	}
}

// securities are the ways segflow's clients connect that these tests cover.
func securities(t *testing.T) []secured {
	user := func(mechanism string) func(*testenv.CA) []kfake.Opt {
		return func(*testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(mechanism, "segflow", "right")}
		}
	}
	return []secured{
		{"SASL PLAIN", user(stream.SASLPlain), func(t *testing.T, _ *testenv.CA, pw string) *stream.Security { return sasl(t, stream.SASLPlain, pw) }},
		{"SASL SCRAM-SHA-256", user(stream.SASLScramSHA256), func(t *testing.T, _ *testenv.CA, pw string) *stream.Security {
			return sasl(t, stream.SASLScramSHA256, pw)
		}},
		{"SASL SCRAM-SHA-512", user(stream.SASLScramSHA512), func(t *testing.T, _ *testenv.CA, pw string) *stream.Security {
			return sasl(t, stream.SASLScramSHA512, pw)
		}},
		{"TLS", func(ca *testenv.CA) []kfake.Opt { return []kfake.Opt{kfake.TLS(ca.ServerTLS(t))} },
			func(t *testing.T, ca *testenv.CA, _ string) *stream.Security {
				return stream.NewSecurity(ca.ClientTLS(), nil)
			}},
		{"TLS with a client certificate", mutualTLS(t), func(t *testing.T, ca *testenv.CA, _ string) *stream.Security {
			c := ca.ClientTLS()
			c.Certificates = []tls.Certificate{ca.Issue(t, "segflow").TLS}
			return stream.NewSecurity(c, nil)
		}},
		{"TLS and SASL SCRAM-SHA-512", func(ca *testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.TLS(ca.ServerTLS(t)), kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA512, "segflow", "right")}
		}, func(t *testing.T, ca *testenv.CA, pw string) *stream.Security {
			m, err := stream.NewSASL(stream.SASLScramSHA512, "segflow", pw)
			if err != nil {
				t.Fatal(err)
			}
			return stream.NewSecurity(ca.ClientTLS(), m)
		}},
	}
}

// TestEveryClientWorksOnASecuredBroker runs each kind of client segflow
// makes — topic creation, a producer, a consumer group, the lag and offset
// reads, a ping — against a broker that takes only TLS, only SASL users, or
// both.
func TestEveryClientWorksOnASecuredBroker(t *testing.T) {
	for _, s := range securities(t) {
		t.Run(s.name, func(t *testing.T) {
			ca := testenv.NewCA(t)
			sec := s.client(t, ca, "right")
			// Creates segflow's topics, and "in", through sec.
			k := testenv.StartSecureKafka(t, sec, s.broker(ca), stream.Topic{Name: "in", Partitions: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := stream.Ping(ctx, k.Brokers, sec); err != nil {
				t.Fatalf("ping: %v", err)
			}
			w := stream.NewWriter(k.Brokers, sec, 0)
			t.Cleanup(func() { w.Close() })
			var sent []string
			for i := range 6 {
				key := fmt.Sprint("c", i)
				write(t, w, kafka.Message{Topic: "in", Key: []byte(key), Value: []byte(key)})
				sent = append(sent, key)
			}
			got := make(chan string, len(sent))
			consume(t, &stream.Consumer{
				Brokers: k.Brokers, Security: sec, GroupID: "g", Topics: []string{"in"},
				Handle: func(_ context.Context, batch []kafka.Message) error {
					for _, m := range batch {
						got <- string(m.Value)
					}
					return nil
				},
			})
			var read []string
			for len(read) < len(sent) {
				select {
				case v := <-got:
					read = append(read, v)
				case <-ctx.Done():
					t.Fatalf("consumed %v of %v", read, sent)
				}
			}
			sort.Strings(read)
			if strings.Join(read, ",") != strings.Join(sent, ",") {
				t.Errorf("consumed %v, want %v", read, sent)
			}
			ends, err := stream.EndOffsets(ctx, k.Brokers, sec, "in")
			if err != nil {
				t.Fatalf("end offsets: %v", err)
			}
			if ends[0]+ends[1] != int64(len(sent)) {
				t.Errorf("end offsets %v add up to %d, want %d", ends, ends[0]+ends[1], len(sent))
			}
			if _, err := stream.GroupLag(ctx, k.Brokers, sec, "g", []string{"in"}); err != nil {
				t.Errorf("group lag: %v", err)
			}
		})
	}
}

// TestAClientWithTheWrongCredentialsIsDeniedClearly has every kind of client
// connect to a secured broker with a wrong password, or without trusting
// its certificate: each fails with an error that says so (stream.Denied),
// the consumer too, which otherwise retries what fails forever.
func TestAClientWithTheWrongCredentialsIsDeniedClearly(t *testing.T) {
	wrongs := []struct {
		name, says string
		broker     func(ca *testenv.CA) []kfake.Opt
		client     func(t *testing.T, ca *testenv.CA) *stream.Security
	}{
		{"a wrong SCRAM password", "SASL Authentication", func(*testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA256, "segflow", "right")}
		}, func(t *testing.T, _ *testenv.CA) *stream.Security { return sasl(t, stream.SASLScramSHA256, "wrong") }},
		{"a wrong PLAIN password", "SASL Authentication", func(*testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(stream.SASLPlain, "segflow", "right")}
		}, func(t *testing.T, _ *testenv.CA) *stream.Security { return sasl(t, stream.SASLPlain, "wrong") }},
		{"a mechanism the user does not have", "SASL Authentication", func(*testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA256, "segflow", "right")}
		}, func(t *testing.T, _ *testenv.CA) *stream.Security { return sasl(t, stream.SASLScramSHA512, "right") }},
		{"a certificate of a CA the client does not trust", "certificate", func(ca *testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.TLS(ca.ServerTLS(t))}
		}, func(t *testing.T, _ *testenv.CA) *stream.Security {
			return stream.NewSecurity(testenv.NewCA(t).ClientTLS(), nil)
		}},
		{"a certificate of another host name", "certificate", func(ca *testenv.CA) []kfake.Opt {
			return []kfake.Opt{kfake.TLS(ca.ServerTLS(t))}
		}, func(t *testing.T, ca *testenv.CA) *stream.Security {
			c := ca.ClientTLS()
			c.ServerName = "kafka.example.com"
			return stream.NewSecurity(c, nil)
		}},
		{"no client certificate for a broker that requires one", "certificate required", mutualTLS(t),
			func(t *testing.T, ca *testenv.CA) *stream.Security { return stream.NewSecurity(ca.ClientTLS(), nil) }},
	}
	for _, w := range wrongs {
		t.Run(w.name, func(t *testing.T) {
			ca := testenv.NewCA(t)
			c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, w.broker(ca)...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			brokers, sec := c.ListenAddrs(), w.client(t, ca)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			check := func(what string, err error) {
				t.Helper()
				if !stream.Denied(err) || !strings.Contains(err.Error(), w.says) {
					t.Errorf("%s: %v, want an error that denies the client and says %q", what, err, w.says)
				}
			}
			check("create topics", stream.EnsureTopics(ctx, brokers, sec, 1, stream.Topic{Name: "in"}))
			check("ping", stream.Ping(ctx, brokers, sec))
			wr := stream.NewWriter(brokers, sec, time.Second)
			defer wr.Close()
			check("write", wr.WriteMessages(ctx, kafka.Message{Topic: "in", Value: []byte("x")}))
			_, err = stream.EndOffsets(ctx, brokers, sec, "in")
			check("end offsets", err)
			_, err = stream.GroupLag(ctx, brokers, sec, "g", []string{"in"})
			check("group lag", err)
			cons := &stream.Consumer{Brokers: brokers, Security: sec, GroupID: "g", Topics: []string{"in"},
				Handle: func(context.Context, []kafka.Message) error { return nil }}
			check("consume", cons.Run(ctx))
		})
	}
}
