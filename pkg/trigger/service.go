package trigger

import (
	"context"
	"errors"
	"os"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/stream"
)

// Config configures a Service. Zero values mean the defaults on each field.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// GroupID is the consumer group. Default "segflow-trigger".
	GroupID string
	// SessionTimeout: see stream.Consumer. Default 10s.
	SessionTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// CampaignsFile, if set, is watched: when it changes the campaigns are
	// loaded again, and kept as they were if the new file is invalid.
	CampaignsFile string
	// JourneysFile, if set, is watched likewise: its journeys (pkg/journey)
	// are loaded again, against the campaigns running, when it changes.
	JourneysFile string
	// Lag, if set, receives the group's lag (see stream.Consumer).
	Lag *stream.LagMetrics
	// Broadcasts, if set, is stepped between batches with the engine's
	// clock (pkg/broadcast's Runner, deciding through the same engine).
	Broadcasts Stepper
}

// Stepper takes a step of work due at now.
type Stepper interface {
	Step(ctx context.Context, now time.Time) error
}

// Service runs an Engine on the browse, cart, purchase, identify and profiles topics and
// fires due waits between batches.
type Service struct {
	cfg     Config
	engine  *Engine
	log     *zap.Logger
	m       *metrics
	modTime time.Time
	jmod    time.Time // of JourneysFile
	checked time.Time
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
		Brokers: s.cfg.Brokers, Security: s.cfg.Security, GroupID: s.cfg.GroupID, SessionTimeout: s.cfg.SessionTimeout,
		// Small batches and frequent ticks: decisions are latency-bound, and
		// waits should fire close to their due time. Offsets are committed
		// in the background: a redelivered event finds its decisions already
		// made and published (see decideScript), so a crash costs only the
		// work, not a second trigger.
		BatchSize: 100, BatchWait: 2 * time.Millisecond, TickInterval: 100 * time.Millisecond,
		CommitInterval: 200 * time.Millisecond,
		Topics:         []string{event.TopicBrowse, event.TopicCart, event.TopicPurchase, event.TopicIdentify, event.TopicProfiles},
		Handle:         s.handle,
		Tick:           s.tick,
		Retry: func(step string, err error, backoff time.Duration) {
			s.m.retries.WithLabelValues(step).Inc()
			s.log.Warn("retrying", zap.String("step", step), zap.Error(err), zap.Duration("backoff", backoff))
		},
		// What can never be handled (not a CloudEvent, no customer, data
		// that is not JSON, refused by Redis) is dead-lettered; an event on
		// the event topics is then dead-lettered by the profile-updater too.
		DeadLetters: s.engine.out, Source: "/trigger", Lag: s.cfg.Lag,
		Rejected: func(m kafka.Message, reason string, err error) {
			s.m.rejected.WithLabelValues(reason).Inc()
			s.log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		},
	}
	return c.Run(ctx)
}

func (s *Service) handle(ctx context.Context, batch []kafka.Message) error {
	evs := make([]cloudevents.Event, 0, len(batch))
	var bad []error
	for _, m := range batch {
		ev, err := stream.FromMessage(m)
		if err != nil {
			bad = append(bad, stream.RejectMessage(m, "undecodable", err))
			continue
		}
		evs = append(evs, ev)
	}
	if len(bad) > 0 {
		return errors.Join(bad...)
	}
	// Events of erased customers from before their erasure are dropped; an
	// erasure recorded while the batch was handled is done again after it,
	// since it may have run before the batch wrote trigger state.
	reg := privacy.New(s.engine.rdb)
	erased, err := s.erased(ctx, reg, evs)
	if err != nil {
		return err
	}
	evs = slices.DeleteFunc(evs, func(ev cloudevents.Event) bool { return droppedEvent(erased, ev) })
	if err := s.engine.HandleBatch(ctx, s.cfg.Now(), evs); err != nil {
		return err
	}
	if erased, err = s.erased(ctx, reg, evs); err != nil {
		return err
	}
	done := map[string]bool{}
	for _, ev := range evs {
		c := customerOf(ev)
		if droppedEvent(erased, ev) && !done[c] {
			done[c] = true
			if _, err := Erase(ctx, s.engine.rdb, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) erased(ctx context.Context, reg *privacy.Registry, evs []cloudevents.Event) (map[string]time.Time, error) {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = customerOf(ev)
	}
	return reg.Erased(ctx, ids)
}

func customerOf(ev cloudevents.Event) string {
	c, _ := ev.Extensions()[event.ExtPartitionKey].(string)
	return c
}

func droppedEvent(erased map[string]time.Time, ev cloudevents.Event) bool {
	return privacy.Dropped(erased, customerOf(ev), ev.Time())
}

func (s *Service) tick(ctx context.Context) error {
	s.reload()
	const limit = 200
	for {
		n, err := s.engine.Due(ctx, s.cfg.Now(), limit)
		if err != nil {
			return err
		}
		if n < limit {
			break
		}
	}
	if s.cfg.Broadcasts != nil {
		return s.cfg.Broadcasts.Step(ctx, s.cfg.Now())
	}
	return nil
}

type metrics struct {
	reloads    *prometheus.CounterVec
	triggers   *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	retries    *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	lag        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_campaign_reloads_total", Help: "Reloads of the campaigns file, by result (ok, invalid).",
		}, []string{"result"}),
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_triggers_total", Help: "Triggers published, by campaign.",
		}, []string{"campaign"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_suppressed_total", Help: "Decisions not to trigger, by campaign and reason.",
		}, []string{"campaign", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_retries_total", Help: "Failed steps that were retried, by step.",
		}, []string{"step"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_trigger_events_rejected_total", Help: "Events dead-lettered, by reason.",
		}, []string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "segflow_trigger_timer_lag_seconds",
			Help:    "Decision time minus due time (0 for campaigns without delay).",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}),
	}
	for _, c := range []prometheus.Collector{m.reloads, m.triggers, m.suppressed, m.retries, m.rejected, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// reloadEvery is how often the campaigns file is checked for changes.
const reloadEvery = 2 * time.Second

// reload loads the campaigns and journeys files again if they changed since
// they were loaded.
func (s *Service) reload() {
	if s.cfg.CampaignsFile == "" && s.cfg.JourneysFile == "" || time.Since(s.checked) < reloadEvery {
		return
	}
	s.checked = time.Now()
	if s.changed(s.cfg.CampaignsFile, &s.modTime) {
		cfg, err := campaign.Load(s.cfg.CampaignsFile)
		if err != nil {
			s.m.reloads.WithLabelValues("invalid").Inc()
			s.log.Error("campaigns file changed but is invalid; keeping the campaigns running", zap.Error(err))
		} else {
			s.engine.SetCampaigns(cfg)
			s.m.reloads.WithLabelValues("ok").Inc()
			s.log.Info("campaigns reloaded", zap.Int("campaigns", len(cfg.Campaigns)))
		}
	}
	if s.changed(s.cfg.JourneysFile, &s.jmod) {
		cfg, err := journey.Load(s.cfg.JourneysFile, s.engine.campaigns)
		if err != nil {
			s.m.reloads.WithLabelValues("invalid").Inc()
			s.log.Error("journeys file changed but is invalid; keeping the journeys running", zap.Error(err))
			return
		}
		s.engine.SetJourneys(cfg)
		s.m.reloads.WithLabelValues("ok").Inc()
		s.log.Info("journeys reloaded", zap.Int("journeys", len(cfg.Journeys)))
	}
}

// changed reports whether the file at path was modified after *mod, the
// time it was last seen modified, and moves *mod on. The first look only
// records the time: the file was loaded at start-up.
func (s *Service) changed(path string, mod *time.Time) bool {
	if path == "" {
		return false
	}
	st, err := os.Stat(path)
	if err != nil {
		s.log.Warn("watched file", zap.String("file", path), zap.Error(err))
		return false
	}
	if mod.IsZero() {
		*mod = st.ModTime()
		return false
	}
	if !st.ModTime().After(*mod) {
		return false
	}
	*mod = st.ModTime()
	return true
}
