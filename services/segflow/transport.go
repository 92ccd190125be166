package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
)

// transport is how segflow reaches a Kafka cluster and a Redis of its own
// deployment (TLS, SASL, the Redis ACL user) and how long the Kafka topics
// it creates keep their messages. Its flags are registered with the Kafka,
// Redis and topic flags (addKafka, addRedis, addRetention), checked and
// turned into connection settings by load.
type transport struct {
	kafkaTLS      tlsFlags
	saslMechanism string
	saslUser      string
	saslPassword  string
	redisTLS      tlsFlags
	redisUser     string
	retention     time.Duration

	// Set by load.
	kafka *stream.Security // nil: plaintext, no SASL
	redis *tls.Config      // nil: plaintext
}

// tlsFlags are the TLS flags of one server kind, --PREFIX-tls*.
type tlsFlags struct {
	prefix                    string
	on                        bool
	ca, cert, key, serverName string
	insecure                  bool
}

func newTransport() *transport {
	return &transport{kafkaTLS: tlsFlags{prefix: "kafka"}, redisTLS: tlsFlags{prefix: "redis"}}
}

// addKafka registers the flags of the Kafka connections' security on fs,
// addRedis those of Redis, addRetention that of topic retention. Passwords
// can come from the environment (SEGFLOW_KAFKA_SASL_PASSWORD,
// SEGFLOW_REDIS_PASSWORD), so that they do not show in the process list.
func (t *transport) addKafka(fs *flag.FlagSet) {
	t.kafkaTLS.add(fs, "Kafka brokers")
	fs.StringVar(&t.saslMechanism, "kafka-sasl-mechanism", "", "authenticate to Kafka with SASL: "+stream.SASLPlain+", "+stream.SASLScramSHA256+" or "+stream.SASLScramSHA512+"; empty: no SASL")
	fs.StringVar(&t.saslUser, "kafka-sasl-username", "", "Kafka SASL user")
	fs.StringVar(&t.saslPassword, "kafka-sasl-password", "", "Kafka SASL password; prefer the environment variable SEGFLOW_KAFKA_SASL_PASSWORD, which the process list does not show")
}

func (t *transport) addRedis(fs *flag.FlagSet) {
	t.redisTLS.add(fs, "Redis")
	fs.StringVar(&t.redisUser, "redis-username", "", "Redis ACL user (its password is --redis-password, or SEGFLOW_REDIS_PASSWORD); empty: the default user")
}

func (t *transport) addRetention(fs *flag.FlagSet) {
	fs.DurationVar(&t.retention, "topic-retention", 0, "how long the event, dead-letter, profile change and trigger topics segflow creates keep a message (retention.ms); 0 keeps every message forever, so that any past can be replayed. Topics that exist already are left as they are")
}

func (f *tlsFlags) add(fs *flag.FlagSet, servers string) {
	p := "--" + f.prefix + "-tls"
	fs.BoolVar(&f.on, f.prefix+"-tls", false, "connect to the "+servers+" with TLS, verifying their certificates against the system's CAs or "+p+"-ca (implied by any "+p+"-* flag)")
	fs.StringVar(&f.ca, f.prefix+"-tls-ca", "", "PEM file of the CA certificates that sign the "+servers+"' certificates")
	fs.StringVar(&f.cert, f.prefix+"-tls-cert", "", "PEM file of the client certificate shown to the "+servers+" (with "+p+"-key)")
	fs.StringVar(&f.key, f.prefix+"-tls-key", "", "PEM file of the client certificate's private key")
	fs.StringVar(&f.serverName, f.prefix+"-tls-server-name", "", "host name the "+servers+"' certificates must name; empty: the host dialled")
	fs.BoolVar(&f.insecure, f.prefix+"-tls-insecure-skip-verify", false, "do not verify the "+servers+"' certificates (anyone on the path can read and change the traffic): for tests only")
}

// config returns the TLS configuration the flags ask for, nil for none.
func (f tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.ca == "" && f.cert == "" && f.key == "" && f.serverName == "" && !f.insecure {
		return nil, nil
	}
	p := "--" + f.prefix + "-tls"
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName, InsecureSkipVerify: f.insecure} //nolint:gosec // only with the explicit flag
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("%s-ca: %w", p, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-ca: %s holds no PEM certificate", p, f.ca)
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%s-cert and %s-key go together", p, p)
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("%s-cert, %s-key: %w", p, p, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// load checks the flags and makes the connection settings. Security flags
// of a server segflow embeds (no --kafka-brokers, no --redis-addr) are
// refused: the embedded servers speak plaintext.
func (t *transport) load(kafkaBrokers, redisAddr string) error {
	kt, err := t.kafkaTLS.config()
	if err != nil {
		return err
	}
	if t.saslMechanism == "" && (t.saslUser != "" || t.saslPassword != "") {
		return errors.New("--kafka-sasl-username and --kafka-sasl-password need --kafka-sasl-mechanism")
	}
	if (kt != nil || t.saslMechanism != "") && kafkaBrokers == "" {
		return errors.New("--kafka-tls* and --kafka-sasl-* need --kafka-brokers: the embedded broker speaks plaintext")
	}
	if t.saslMechanism != "" {
		mech, err := stream.NewSASL(t.saslMechanism, t.saslUser, t.saslPassword)
		if err != nil {
			return fmt.Errorf("--kafka-sasl-mechanism: %w", err)
		}
		t.kafka = stream.NewSecurity(kt, mech)
	} else if kt != nil {
		t.kafka = stream.NewSecurity(kt, nil)
	}
	if t.redis, err = t.redisTLS.config(); err != nil {
		return err
	}
	if (t.redis != nil || t.redisUser != "") && redisAddr == "" {
		return errors.New("--redis-tls* and --redis-username need --redis-addr: the embedded Redis speaks plaintext")
	}
	if t.retention < 0 {
		return fmt.Errorf("--topic-retention: %s is negative; 0 keeps every message forever", t.retention)
	}
	return nil
}

// topics returns the topics segflow creates, with partitions each, and how
// long each keeps its messages.
//
// Every topic whose messages are facts — customer events, dead letters,
// profile changes, triggers and the trigger service's decisions — keeps them
// for --topic-retention, forever by default: a replay rebuilds profiles from
// the events, re-publishes dead letters, and a backfill or an audit reads
// every change and decision, none of which a later message of the same key
// replaces. The summaries topic is compacted: a summary is a customer's whole
// segmentation state, replaced by the next one, and population views load
// from Redis and follow only what comes after, so a customer's latest summary
// is all the topic needs to keep.
func (t *transport) topics(partitions int) []stream.Topic {
	var out []stream.Topic
	for _, name := range append(event.Topics, event.TopicInvalid, event.TopicProfiles, trigger.TopicTriggers, trigger.TopicDecisions, "triggers.undelivered") {
		out = append(out, stream.Topic{Name: name, Partitions: partitions, Retention: t.retention})
	}
	return append(out, stream.Topic{Name: event.TopicSummaries, Partitions: partitions, Compact: true})
}
