// Package updater is the profile-updater service: it consumes the event topics
// as a Kafka consumer group, applies each batch to the profile store, applies
// the time-driven changes that fall due, and publishes every change of a
// customer's NES stage, RFM segment, tier or tags as a profile.changed
// CloudEvent on the profiles topic. At each boundary of
// Config.RescoreEvery one updater of the group rescores every customer
// (Rescores), publishing the changes others' purchases brought.
//
// Offsets are committed only after a batch's state is in Redis and its changes
// are acknowledged by Kafka. A crash anywhere before the commit redelivers the
// batch; the store's writes are idempotent (see package profile) and the
// changes it recomputes carry the same deterministic ids, so consumers that
// dedup on the CloudEvent id see each change once.
package updater

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/view"
)

// Config configures an Updater. Zero values mean the defaults on each field.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// GroupID is the consumer group. Default "segflow-profile-updater".
	GroupID string
	// Topics are consumed. Default: browse, cart, purchase, identify.
	Topics []string
	// BatchSize, BatchWait, TimerInterval (how often due timers are looked
	// for while events keep coming) and SessionTimeout are the consumer's
	// BatchSize, BatchWait, TickInterval and SessionTimeout; zero values mean
	// stream.Consumer's defaults (500, 20ms, 1s, 10s).
	BatchSize      int
	BatchWait      time.Duration
	TimerInterval  time.Duration
	SessionTimeout time.Duration
	// Now is the clock that says what T is. Default time.Now.
	Now func() time.Time
	// Namespace, if set, returns the store of the live namespace; it is
	// asked once per batch and per round of timers, so a switch of the live
	// namespace (profile.SetLive) takes effect at the next batch. Nil: always
	// the store given to New.
	Namespace func(ctx context.Context) (*profile.Store, error)
	// Lag, if set, receives the group's lag (see stream.Consumer).
	Lag *stream.LagMetrics
	// RescoreEvery is the interval between rescores of the live namespace
	// (Rescores), on boundaries of the clock; zero or less turns them off.
	RescoreEvery time.Duration
}

func (c *Config) defaults() {
	if c.GroupID == "" {
		c.GroupID = "segflow-profile-updater"
	}
	if len(c.Topics) == 0 {
		c.Topics = event.Topics
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TimerInterval <= 0 {
		c.TimerInterval = time.Second
	}
}

// storeFor returns the store a batch is applied to.
func (u *Updater) storeFor(ctx context.Context) (*profile.Store, error) {
	if u.cfg.Namespace == nil {
		return u.store, nil
	}
	return u.cfg.Namespace(ctx)
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Updater is the profile-updater.
type Updater struct {
	cfg     Config
	store   *profile.Store
	privacy *privacy.Registry
	out     Producer
	log     *zap.Logger
	m       *metrics
}

// New returns an updater applying events to store and writing changes and
// dead letters to out.
func New(cfg Config, store *profile.Store, out Producer, log *zap.Logger, reg prometheus.Registerer) (*Updater, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("updater: no brokers")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Updater{cfg: cfg, store: store, privacy: privacy.New(store.Redis()), out: out, log: log.Named("profile-updater"), m: m}, nil
}

// source is the CloudEvent source of the updater's events.
const source = "/profile-updater"

// Run consumes until ctx is cancelled, then commits what it applied and
// returns nil. Errors from Redis or Kafka are retried, except Redis refusing
// an event, which is dead-lettered (see stream.Permanent).
func (u *Updater) Run(ctx context.Context) error {
	c := &stream.Consumer{
		Brokers: u.cfg.Brokers, Security: u.cfg.Security, GroupID: u.cfg.GroupID, Topics: u.cfg.Topics,
		BatchSize: u.cfg.BatchSize, BatchWait: u.cfg.BatchWait, TickInterval: u.cfg.TimerInterval,
		SessionTimeout: u.cfg.SessionTimeout,
		Handle:         u.apply,
		Tick:           u.timers,
		Retry: func(step string, err error, backoff time.Duration) {
			u.m.errors.WithLabelValues(step).Inc()
			u.log.Warn("retrying", zap.String("step", step), zap.Error(err), zap.Duration("backoff", backoff))
		},
		Lag:         u.cfg.Lag,
		DeadLetters: u.out, Source: source,
		Rejected: func(m kafka.Message, reason string, err error) {
			u.m.rejected.WithLabelValues(reason).Inc()
			u.log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		},
	}
	return c.Run(ctx)
}

// apply applies one batch: events become ops, bad ones dead letters.
func (u *Updater) apply(ctx context.Context, batch []kafka.Message) error {
	store, err := u.storeFor(ctx)
	if err != nil {
		return err
	}
	ops := make([]profile.Op, 0, len(batch))
	var dead []kafka.Message
	var reasons []string
	for _, m := range batch {
		e, err := stream.FromMessage(m)
		var op profile.Op
		if err == nil {
			op, err = profile.OpOf(e, store.Currency())
		}
		if err != nil {
			reason := "undecodable"
			if errors.Is(err, profile.ErrCurrency) {
				reason = "currency"
			}
			dl, derr := stream.DeadLetter(m, source, reason, err)
			if derr != nil {
				return derr
			}
			dead, reasons = append(dead, dl), append(reasons, reason)
			continue
		}
		ops = append(ops, op)
	}
	ops, err = u.dropErased(ctx, ops)
	if err != nil {
		return err
	}
	T := u.cfg.Now()
	// An event Redis refuses for good fails the batch; the consumer then
	// applies its events one by one and dead-letters the one refused.
	changes, dups, err := store.Apply(ctx, T, ops)
	if err != nil {
		return err
	}
	if changes, err = u.eraseAgain(ctx, store, ops, changes); err != nil {
		return err
	}
	var customers []string
	for _, op := range ops {
		customers = append(customers, op.Customer)
		if op.Merge != "" {
			customers = append(customers, op.Merge)
		}
	}
	if err := u.publish(ctx, store, changes, customers, dead...); err != nil {
		return err
	}
	for _, reason := range reasons {
		u.m.rejected.WithLabelValues(reason).Inc()
	}
	u.m.applied.Add(float64(len(ops)))
	u.m.duplicates.Add(float64(dups))
	return nil
}

// dropErased leaves out the events of erased customers that are not after
// their erasure, so that a redelivery or a replay never brings them back.
func (u *Updater) dropErased(ctx context.Context, ops []profile.Op) ([]profile.Op, error) {
	erased, err := u.erased(ctx, ops)
	if err != nil || len(erased) == 0 {
		return ops, err
	}
	kept := ops[:0:0]
	for _, op := range ops {
		if dropped(erased, op) {
			u.m.erased.Inc()
			continue
		}
		kept = append(kept, op)
	}
	return kept, nil
}

// eraseAgain closes the race with an erasure that was recorded while the
// batch was being applied: the erasure deleted the profile after dropErased
// looked, and the batch may have written it again. Such customers are erased
// once more and their changes not published. (An erasure records itself
// before deleting, so one recorded after this look deleted after the batch's
// writes.)
func (u *Updater) eraseAgain(ctx context.Context, store *profile.Store, ops []profile.Op, changes []profile.Change) ([]profile.Change, error) {
	erased, err := u.erased(ctx, ops)
	if err != nil || len(erased) == 0 {
		return changes, err
	}
	again := map[string]bool{}
	for _, op := range ops {
		if dropped(erased, op) && !again[op.Customer] {
			again[op.Customer] = true
			if _, err := store.Erase(ctx, op.Customer); err != nil {
				return nil, err
			}
		}
	}
	if len(again) == 0 {
		return changes, nil
	}
	return slices.DeleteFunc(changes, func(ch profile.Change) bool { return again[ch.Customer] }), nil
}

// erased returns the erasures recorded of the customers ops touch.
func (u *Updater) erased(ctx context.Context, ops []profile.Op) (map[string]time.Time, error) {
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.Customer)
		if op.Merge != "" {
			ids = append(ids, op.Merge)
		}
	}
	return u.privacy.Erased(ctx, ids)
}

// dropped tells whether op belongs to an erasure in erased.
func dropped(erased map[string]time.Time, op profile.Op) bool {
	return privacy.Dropped(erased, op.Customer, op.Time) || op.Merge != "" && privacy.Dropped(erased, op.Merge, op.Time)
}

// timers applies the time-driven changes due now.
func (u *Updater) timers(ctx context.Context) error {
	const limit = 500
	store, err := u.storeFor(ctx)
	if err != nil {
		return err
	}
	for {
		T := u.cfg.Now()
		changes, evaluated, err := store.Due(ctx, T, limit)
		if err != nil {
			return err
		}
		if err := u.publish(ctx, store, changes, evaluated); err != nil {
			return err
		}
		u.m.timersFired.Add(float64(len(evaluated)))
		if len(evaluated) < limit {
			backlog, err := store.Backlog(ctx, T)
			if err == nil {
				u.m.timerBacklog.Set(float64(backlog))
			}
			return nil
		}
	}
}

// publish writes changes, the summaries of the customers evaluated (for the
// population views, pkg/view) and dead letters in one write, then stores the
// published snapshots.
func (u *Updater) publish(ctx context.Context, store *profile.Store, changes []profile.Change, evaluated []string, extra ...kafka.Message) error {
	msgs := extra
	for _, ch := range changes {
		m, err := changeMessage(ch)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	sums, err := summaries(ctx, store, changes, evaluated)
	if err != nil {
		return err
	}
	msgs = append(msgs, sums...)
	if len(msgs) > 0 {
		if err := u.out.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("publish %d changes: %w", len(changes), err)
		}
	}
	if err := store.Commit(ctx, changes); err != nil {
		return err
	}
	for _, ch := range changes {
		for _, what := range ch.Changed {
			u.m.changes.WithLabelValues(what).Inc()
		}
	}
	return nil
}

// summaries returns the summary messages of the customers evaluated, each
// once. They are read before the changes are committed, so the tier, tags
// and waterfall segment of a customer who changed are taken from the change.
func summaries(ctx context.Context, store *profile.Store, changes []profile.Change, evaluated []string) ([]kafka.Message, error) {
	slices.Sort(evaluated)
	evaluated = slices.Compact(evaluated)
	sums, err := store.Summaries(ctx, evaluated)
	if err != nil {
		return nil, err
	}
	after := make(map[string]profile.Snapshot, len(changes))
	for _, ch := range changes {
		after[ch.Customer] = ch.After
	}
	msgs := make([]kafka.Message, len(sums))
	for i, s := range sums {
		if snap, ok := after[s.Customer]; ok && !s.Gone {
			s = s.With(snap)
		}
		if msgs[i], err = view.Message(s, "/profile-updater", store.Prefix()); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

func changeMessage(ch profile.Change) (kafka.Message, error) {
	e, err := ch.Event(source)
	if err != nil {
		return kafka.Message{}, err
	}
	return stream.ToMessage(event.TopicProfiles, e)
}
