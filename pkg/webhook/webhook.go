// Package webhook delivers triggers to an HTTP endpoint, for tools that cannot
// read Kafka. It consumes the triggers topic as its own consumer group and
// POSTs each trigger as a structured CloudEvent (application/cloudevents+json)
// signed as Standard Webhooks specifies (https://www.standardwebhooks.com),
// so that receivers can reject forgeries and replays:
//
//	webhook-id: <CloudEvent id, the same on every attempt>
//	webhook-timestamp: <Unix seconds of the attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
//
// keyed by the secret: the bytes a "whsec_<base64>" secret encodes, or the
// secret itself otherwise. The body's HMAC-SHA256 alone, keyed by the
// secret as given, is sent too, for receivers of earlier releases:
//
//	X-Segflow-Signature: sha256=<hex>
//
// A delivery that fails (a network error or a status other than 2xx) is
// retried with exponential backoff; after MaxAttempts it goes to the
// dead-letter topic with the last error, and delivery moves on. Offsets are
// committed after delivery or dead-lettering, so a crash redelivers: the
// endpoint should dedup on the CloudEvent id (the ce id is stable).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/stream"
)

// SignatureHeader carries the body's HMAC-SHA256.
const SignatureHeader = "X-Segflow-Signature"

// The Standard Webhooks headers.
const (
	IDHeader             = "webhook-id"
	TimestampHeader      = "webhook-timestamp"
	StandardSignatureHdr = "webhook-signature"
)

// SecretPrefix starts a secret given as base64, as Standard Webhooks
// secrets are.
const SecretPrefix = "whsec_"

// Key returns the HMAC key of secret: the bytes of a SecretPrefix secret's
// base64, else the secret's own bytes.
func Key(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("webhook secret %s…: not base64 after the prefix", SecretPrefix)
	}
	return key, nil
}

// SignStandard returns the webhook-signature value of a message id sent at
// ts with body, keyed by key.
func SignStandard(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Config configures a Deliverer. Zero values mean the defaults on each field.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	URL      string
	Secret   string
	// Topic is consumed. Default "triggers".
	Topic string
	// DeadLetterTopic receives what could not be delivered. Default "triggers.undelivered".
	DeadLetterTopic string
	// GroupID is the consumer group. Default "segflow-webhook".
	GroupID string
	// MaxAttempts per trigger. Default 5.
	MaxAttempts int
	// Backoff before the first retry, doubled each time. Default 500ms.
	Backoff time.Duration
	// Timeout of one request. Default 10s.
	Timeout time.Duration
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Deliverer delivers triggers to the webhook.
type Deliverer struct {
	cfg    Config
	client *http.Client
	out    Producer
	log    *zap.Logger
}

// New returns a deliverer that dead-letters through out.
func New(cfg Config, out Producer, log *zap.Logger) (*Deliverer, error) {
	if cfg.URL == "" || cfg.Secret == "" {
		return nil, errors.New("webhook: URL and secret are required")
	}
	if _, err := Key(cfg.Secret); err != nil {
		return nil, err
	}
	if cfg.Topic == "" {
		cfg.Topic = "triggers"
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = "triggers.undelivered"
	}
	if cfg.GroupID == "" {
		cfg.GroupID = "segflow-webhook"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Deliverer{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, out: out, log: log.Named("webhook")}, nil
}

// Run delivers until ctx is cancelled.
func (d *Deliverer) Run(ctx context.Context) error {
	c := &stream.Consumer{
		Brokers: d.cfg.Brokers, Security: d.cfg.Security, GroupID: d.cfg.GroupID, Topics: []string{d.cfg.Topic}, BatchSize: 50,
		Handle: func(ctx context.Context, batch []kafka.Message) error {
			for _, m := range batch {
				if err := d.deliver(ctx, m); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return c.Run(ctx)
}

// Sign returns the signature header value of body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver posts one trigger, retrying, and dead-letters it when every attempt
// failed. It returns an error only if dead-lettering failed.
func (d *Deliverer) deliver(ctx context.Context, m kafka.Message) error {
	e, err := stream.FromMessage(m)
	if err != nil {
		return d.deadLetter(ctx, m, 0, fmt.Errorf("not a CloudEvent: %w", err))
	}
	body, err := json.Marshal(e)
	if err != nil {
		return d.deadLetter(ctx, m, 0, err)
	}
	backoff := d.cfg.Backoff
	var last error
	for attempt := 1; attempt <= d.cfg.MaxAttempts; attempt++ {
		if last = d.post(ctx, e.ID(), body); last == nil {
			return nil
		}
		d.log.Warn("delivery failed", zap.String("id", e.ID()), zap.Int("attempt", attempt), zap.Error(last))
		if attempt < d.cfg.MaxAttempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
	}
	return d.deadLetter(ctx, m, d.cfg.MaxAttempts, last)
}

func (d *Deliverer) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	key, _ := Key(d.cfg.Secret) // checked by New
	now := time.Now()
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set(IDHeader, id)
	req.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(StandardSignatureHdr, SignStandard(key, id, now, body))
	req.Header.Set(SignatureHeader, Sign(d.cfg.Secret, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}

// deadLetter keeps the trigger as it was, with why and how often it failed.
func (d *Deliverer) deadLetter(ctx context.Context, m kafka.Message, attempts int, cause error) error {
	dl := kafka.Message{Topic: d.cfg.DeadLetterTopic, Key: m.Key, Value: m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...),
			kafka.Header{Key: "segflow_error", Value: []byte(cause.Error())},
			kafka.Header{Key: "segflow_attempts", Value: []byte(fmt.Sprint(attempts))})}
	if err := d.out.WriteMessages(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter an undelivered trigger: %w", err)
	}
	return nil
}
