package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security is how segflow's Kafka clients reach the brokers: with TLS, SASL
// authentication, both or neither. Every producer (NewWriter), consumer
// (Consumer, and readers of one partition through Dialer) and admin client
// (EnsureTopics, GroupLag, EndOffsets, Ping, Client) takes one, so they all
// connect alike.
//
// Make one with NewSecurity at start-up and share it: it holds the pool of
// connections of the producers and admin clients. A nil *Security connects in
// plaintext without authentication.
type Security struct {
	tls       *tls.Config
	sasl      sasl.Mechanism
	transport *transport
}

// NewSecurity returns the security of connections made with tlsConfig (nil:
// plaintext) and authenticated by mechanism (nil: no SASL). A tlsConfig
// without ServerName verifies each broker's certificate against the host
// name the client dialled.
func NewSecurity(tlsConfig *tls.Config, mechanism sasl.Mechanism) *Security {
	s := &Security{tls: tlsConfig, sasl: mechanism}
	s.transport = &transport{
		Transport: &kafka.Transport{
			// kafka.DefaultTransport's dial timeout: a dead broker is
			// reported within seconds.
			Dial:        (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			DialTimeout: 10 * time.Second,
			TLS:         tlsConfig,
			SASL:        mechanism,
		},
		dialer: s.Dialer(),
	}
	return s
}

// transport is a kafka.Transport that tells why it failed when the brokers
// denied it: kafka.Transport reports a failed TLS handshake or SASL
// authentication as a broker not available or an unexpected EOF, which
// reads as a broker that is down.
type transport struct {
	*kafka.Transport
	dialer *kafka.Dialer
}

// RoundTrip sends req as kafka.Transport does; when that fails, it dials a
// broker of addr as a kafka.Dialer, which reports a denial as one, and
// returns the denial if there is one.
func (t *transport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	resp, err := t.Transport.RoundTrip(ctx, addr, req)
	if err == nil || Denied(err) {
		return resp, err
	}
	// ctx may have run out: the dial has a few seconds of its own.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	broker, _, _ := strings.Cut(addr.String(), ",")
	conn, derr := t.dialer.DialContext(dctx, addr.Network(), broker)
	if derr == nil {
		// Under TLS 1.3 a broker refuses a client certificate after the
		// handshake: the first answer tells.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, derr = conn.ApiVersions()
		conn.Close()
	}
	if Denied(derr) {
		return resp, fmt.Errorf("%w (%v)", derr, err)
	}
	return resp, err
}

// Dialer returns a dialer for kafka.ReaderConfig and kafka.DialContext,
// secured as s says.
func (s *Security) Dialer() *kafka.Dialer {
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	if s != nil {
		d.TLS, d.SASLMechanism = s.tls, s.sasl
	}
	return d
}

// Transport returns the transport of kafka.Writer and kafka.Client, secured
// as s says; it is shared by every caller, and pools their connections.
func (s *Security) Transport() kafka.RoundTripper {
	if s == nil {
		return kafka.DefaultTransport
	}
	return s.transport
}

// Client returns an admin client of brokers whose requests time out after
// 10s.
func (s *Security) Client(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: s.Transport()}
}

// String says how s connects, without secrets: "plaintext", "TLS",
// "SASL SCRAM-SHA-512" or "TLS, SASL PLAIN".
func (s *Security) String() string {
	var parts []string
	if s != nil && s.tls != nil {
		parts = append(parts, "TLS")
	}
	if s != nil && s.sasl != nil {
		parts = append(parts, "SASL "+s.sasl.Name())
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// SASL mechanisms NewSASL knows.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// NewSASL returns the SASL mechanism named mechanism (PLAIN, SCRAM-SHA-256
// or SCRAM-SHA-512, in any case) that logs in as user with password.
func NewSASL(mechanism, user, password string) (sasl.Mechanism, error) {
	if user == "" {
		return nil, fmt.Errorf("SASL %s needs a user name", mechanism)
	}
	switch strings.ToUpper(mechanism) {
	case SASLPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, user, password)
	case SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, user, password)
	}
	return nil, fmt.Errorf("SASL mechanism %q is none of %s, %s, %s", mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// Denied tells whether err is the brokers refusing this client — its SASL
// credentials or mechanism, its rights, or the TLS handshake (a certificate
// that does not verify, a server that does not speak TLS) — which retrying
// does not cure, unlike a broker that is down.
func Denied(err error) bool {
	for _, code := range []kafka.Error{
		kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
		kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed,
	} {
		if errors.Is(err, code) {
			return true
		}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		op        *net.OpError
	)
	// A TLS alert from the broker (certificate required, bad certificate)
	// comes as a net.OpError whose Op is "remote error".
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &op) && op.Op == "remote error"
}
