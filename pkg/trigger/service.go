package trigger

import (
	"context"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

// Config configures a Service. Zero values mean the defaults on each field.
type Config struct {
	Brokers []string
	// GroupID is the consumer group. Default "segflow-trigger".
	GroupID string
	// SessionTimeout: see stream.Consumer. Default 10s.
	SessionTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Service runs an Engine on the browse, cart, purchase, identify and profiles topics and
// fires due waits between batches.
type Service struct {
	cfg    Config
	engine *Engine
	log    *zap.Logger
	m      *metrics
}

// NewService returns the trigger service around engine.
func NewService(cfg Config, engine *Engine, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	if cfg.GroupID == "" {
		cfg.GroupID = "segflow-trigger"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, engine: engine, log: log.Named("trigger"), m: m}
	engine.Decided = func(d Decision, late time.Duration) {
		if d.Outcome == Sent {
			m.triggers.WithLabelValues(d.Campaign).Inc()
		} else {
			m.suppressed.WithLabelValues(d.Campaign, d.Outcome).Inc()
		}
		m.lag.Observe(late.Seconds())
	}
	return s, nil
}

// Run consumes until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	c := &stream.Consumer{
		Brokers: s.cfg.Brokers, GroupID: s.cfg.GroupID, SessionTimeout: s.cfg.SessionTimeout,
		// Small batches and frequent ticks: decisions are latency-bound, and
		// waits should fire close to their due time.
		BatchSize: 100, BatchWait: 5 * time.Millisecond, TickInterval: 100 * time.Millisecond,
		Topics: []string{event.TopicBrowse, event.TopicCart, event.TopicPurchase, event.TopicIdentify, event.TopicProfiles},
		Handle: s.handle,
		Tick:   s.tick,
		Retry: func(step string, err error, backoff time.Duration) {
			s.m.retries.WithLabelValues(step).Inc()
			s.log.Warn("retrying", zap.String("step", step), zap.Error(err), zap.Duration("backoff", backoff))
		},
	}
	return c.Run(ctx)
}

func (s *Service) handle(ctx context.Context, batch []kafka.Message) error {
	evs := make([]cloudevents.Event, 0, len(batch))
	for _, m := range batch {
		ev, err := stream.FromMessage(m)
		if err != nil {
			// The profile-updater dead-letters what cannot be decoded.
			s.log.Warn("skipping a message that is not a CloudEvent", zap.String("topic", m.Topic), zap.Int64("offset", m.Offset))
			continue
		}
		evs = append(evs, ev)
	}
	return s.engine.HandleBatch(ctx, s.cfg.Now(), evs)
}

func (s *Service) tick(ctx context.Context) error {
	const limit = 200
	for {
		n, err := s.engine.Due(ctx, s.cfg.Now(), limit)
		if err != nil || n < limit {
			return err
		}
	}
}

type metrics struct {
	triggers   *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	retries    *prometheus.CounterVec
	lag        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_triggers_total", Help: "Triggers published, by campaign.",
		}, []string{"campaign"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_suppressed_total", Help: "Decisions not to trigger, by campaign and reason.",
		}, []string{"campaign", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_retries_total", Help: "Failed steps that were retried, by step.",
		}, []string{"step"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "segflow_trigger_timer_lag_seconds",
			Help:    "Decision time minus due time (0 for campaigns without delay).",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}),
	}
	for _, c := range []prometheus.Collector{m.triggers, m.suppressed, m.retries, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
