// Package collector is segflow's ingest service: it receives tracking events
// over HTTP — CloudEvents on /v1/events and the Segment tracking API on
// /v1/{track,page,screen,identify,alias,batch,import} and analytics.js's short
// paths /v1/{t,p,s,i,a,g,b} — validates them against
// the schemas, resolves the customer they belong to, and writes them to Kafka.
//
// Its invariant: a 2xx answer means every accepted event is on Kafka,
// acknowledged by all in-sync replicas, and every rejected one is on the
// dead-letter topic with its reason. When Kafka or Redis cannot be reached the
// answer is 503 with Retry-After; it lists the events Kafka did not
// acknowledge, and only the events it did are remembered as written, so the
// client's retry writes the rest and nothing twice. Retries of events already
// written are recognised by their source and id and written once (see
// dedup.go). Events of erased customers dated at or before their erasure are
// dropped, as every writer of profile state drops them (pkg/privacy).
package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/stream"
)

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Source is a producer of events, known by its write key.
type Source struct {
	// Name names the source in CloudEvent sources ("/sources/<name>") and metrics.
	Name string
	// Channel is the channel of the source's events when they do not name one:
	// web, app or pos. Empty means web.
	Channel string
}

// Config configures a Collector. Zero values mean the defaults documented on
// each field.
type Config struct {
	// WriteKeys maps each write key to its source. Requests without a known
	// write key get 401.
	WriteKeys map[string]Source
	// MaxBodyBytes limits a request body after decompression; 413 beyond it.
	// Default 4 MiB.
	MaxBodyBytes int64
	// MaxEvents limits the events in one request; 413 beyond it. Default 2000.
	MaxEvents int
	// MaxMessageBytes is the largest Kafka message the topics take (the
	// brokers' message.max.bytes, or the topics' max.message.bytes), measured
	// by stream.MessageSize. A larger event is rejected. Default
	// stream.DefaultMaxMessageBytes, Kafka's default.
	MaxMessageBytes int
	// DedupWindow is how long an event id is remembered after it was written,
	// so that a retry within it is not written again. Default 24h.
	DedupWindow time.Duration
	// WriteTimeout is the per-attempt timeout of the Kafka writer (see
	// stream.NewWriter); use the same value for both. Default 10s.
	WriteTimeout time.Duration
	// RetryAfter is what 503 answers tell clients to wait. Default 5s.
	RetryAfter time.Duration
	// DefaultCurrency is the currency of Segment orders that name none.
	// Default USD.
	DefaultCurrency string
	// MaxFuture is how far past its receipt an event's time may be; 400
	// beyond it (see event.CheckTime). It is also the largest client clock
	// error Segment requests are corrected for (segment.Options.MaxSkew).
	// Default event.DefaultMaxFuture, at most event.MaxFutureLimit.
	MaxFuture time.Duration
	// AllowedOrigins are the browser origins allowed by CORS, with credentials.
	// Empty allows any origin, without credentials.
	AllowedOrigins []string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 2000
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = stream.DefaultMaxMessageBytes
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 24 * time.Hour
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = "USD"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxFuture = event.MaxFuture(c.MaxFuture)
}

// Producer writes messages to Kafka and returns once they are acknowledged.
// *kafka.Writer is one.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Collector is the HTTP ingest service.
type Collector struct {
	cfg       Config
	out       Producer
	rdb       redis.UniversalClient
	erasures  *privacy.Registry
	validator *event.Validator
	log       *zap.Logger
	m         *metrics
	// unknownLog limits the logging of requests to unknown paths.
	unknownLog *throttle
}

// New returns a collector writing to out and keeping dedup markers and
// identity links in rdb. Metrics are registered with reg.
func New(cfg Config, out Producer, rdb redis.UniversalClient, log *zap.Logger, reg prometheus.Registerer) (*Collector, error) {
	cfg.defaults()
	if len(cfg.WriteKeys) == 0 {
		return nil, errors.New("collector: no write keys configured")
	}
	for k, s := range cfg.WriteKeys {
		if k == "" || s.Name == "" {
			return nil, errors.New("collector: write keys and source names must not be empty")
		}
		if s.Channel != "" && !event.IsChannel(s.Channel) {
			return nil, errors.New("collector: source " + s.Name + ": channel must be web, app or pos")
		}
	}
	if !currencyCode.MatchString(cfg.DefaultCurrency) {
		return nil, fmt.Errorf("collector: default currency %q is not an ISO 4217 code", cfg.DefaultCurrency)
	}
	v, err := event.NewValidator()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, out: out, rdb: rdb, erasures: privacy.New(rdb), validator: v, log: log.Named("collector"), m: m,
		unknownLog: &throttle{every: unknownLogEvery}}, nil
}

// segmentPaths maps each path under /v1/ that a Segment library posts to onto
// its call: the server and mobile-era names, and the short ones analytics.js
// posts to (the first letter of the call, b for a batch).
var segmentPaths = map[string]string{
	"track": "track", "page": "page", "screen": "screen", "identify": "identify",
	"alias": "alias", "group": "group", "batch": "batch", "import": "import",
	"t": "track", "p": "page", "s": "screen", "i": "identify", "a": "alias", "g": "group", "b": "batch",
}

// Register adds the collector's routes to mux. A POST to any other path under
// /v1/ is answered 404 with CORS headers, so that a browser library sees the
// answer, and counted (see unknownPath).
func (c *Collector) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/events", c.handle("events", c.serveCloudEvents))
	for path, call := range segmentPaths {
		mux.Handle("POST /v1/"+path, c.handle(call, c.serveSegment(call)))
	}
	mux.HandleFunc("OPTIONS /v1/", c.preflight)
	mux.Handle("POST /v1/", c.handle("unknown", c.unknownPath))
}

// Error kinds the HTTP layer maps to status codes.
var (
	errUnauthorized = errors.New("a valid write key is required (HTTP Basic user, Bearer token or writeKey field)")
	errTooLarge     = errors.New("request too large")
	errUnavailable  = errors.New("temporarily unavailable")
	errMalformed    = errors.New("malformed request")
	errNotFound     = errors.New("no such endpoint")
)

// statusOf maps an error from serving a request to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errMalformed):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// writeKey returns the write key a request carries in its headers.
func writeKey(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return ""
}

func (c *Collector) source(key string) (Source, bool) {
	s, ok := c.cfg.WriteKeys[key]
	return s, ok
}
