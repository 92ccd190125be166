package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
)

// Config configures a load of the sample.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// Store is the live namespace, which the sample is loaded into. Its
	// currency must be Currency.
	Store *profile.Store
	// Out writes the sample's events.
	Out stream.Producer
	// Clock is the clock the pipeline's services run on; the load moves it.
	Clock *Clock
	// Until is where the clock stays once the sample is loaded; not before
	// End. Zero is Final.
	Until time.Time
	// UpdaterGroup is the profile-updater's consumer group. Default
	// "segflow-profile-updater".
	UpdaterGroup string
	// TriggerGroup and IndexGroup are the consumer groups of the trigger
	// service and of the segment index, which the load waits for: the
	// trigger service each week, the index at the end. Empty: that service
	// does not run, and is not waited for.
	TriggerGroup, IndexGroup string
	// Poll is how often the load looks whether the services are done with a
	// week. Default 10ms.
	Poll time.Duration
	// Log receives the load's progress; nil logs nothing.
	Log *zap.Logger
}

func (c *Config) defaults() {
	if c.Until.IsZero() {
		c.Until = Final
	}
	if c.UpdaterGroup == "" {
		c.UpdaterGroup = "segflow-profile-updater"
	}
	if c.Poll <= 0 {
		c.Poll = 10 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
}

// Result is what a load did.
type Result struct {
	// Weeks is the number of moves of the clock; Orders and Consents the
	// events written.
	Weeks, Orders, Consents int
}

// Loader loads the sample into a namespace.
type Loader struct {
	cfg   Config
	rdb   redis.UniversalClient
	steps []step
	next  int // the first step not done
	done  bool
}

// Prepare reads how far the sample is loaded into cfg.Store and sets
// cfg.Clock where the load goes on: at Until if it is loaded, else at the
// end of the first week not loaded. The pipeline's consumers start after
// it, so that they never run on a clock the load then moves back.
func Prepare(ctx context.Context, cfg Config, rdb redis.UniversalClient) (*Loader, error) {
	cfg.defaults()
	if cfg.Store.Currency() != Currency {
		return nil, fmt.Errorf("demo: the sample is in %s, the store currency is %s", Currency, cfg.Store.Currency())
	}
	if cfg.Until.Before(End) {
		return nil, fmt.Errorf("demo: the clock would stay at %s, before the sample's end %s", cfg.Until.Format(time.RFC3339), End.Format(time.RFC3339))
	}
	if cfg.Clock == nil {
		return nil, errors.New("demo: no clock")
	}
	l := &Loader{cfg: cfg, rdb: rdb}
	ns := cfg.Store.Prefix()
	n, err := rdb.Exists(ctx, LoadedKey(ns)).Result()
	if err != nil {
		return nil, fmt.Errorf("demo: read %s: %w", LoadedKey(ns), err)
	}
	if n > 0 {
		l.done = true
		cfg.Clock.set(cfg.Until)
		return l, nil
	}
	orders, err := Orders()
	if err != nil {
		return nil, err
	}
	l.steps = weeks(orders, cfg.Until)
	got, err := rdb.Get(ctx, ProgressKey(ns)).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, fmt.Errorf("demo: read %s: %w", ProgressKey(ns), err)
	default:
		last, err := time.Parse(time.RFC3339, got)
		if err != nil {
			return nil, fmt.Errorf("demo: %s holds %q, not a time: %w", ProgressKey(ns), got, err)
		}
		for l.next < len(l.steps)-1 && !l.steps[l.next].At.After(last) {
			l.next++
		}
	}
	cfg.Clock.set(l.steps[l.next].At)
	return l, nil
}

// Loaded tells whether the namespace held the sample already: Run then
// does nothing.
func (l *Loader) Loaded() bool { return l.done }

// Weeks returns the number of moves of the clock a whole load makes.
func (l *Loader) Weeks() int { return len(l.steps) }

// Run loads the weeks not loaded yet, then records that the namespace
// holds the sample.
func (l *Loader) Run(ctx context.Context) (Result, error) {
	var res Result
	if l.done {
		return res, nil
	}
	ns := l.cfg.Store.Prefix()
	log := l.cfg.Log
	if l.next > 0 {
		log.Info("going on with the CDNOW sample's load", zap.Int("week", l.next+1), zap.Int("weeks", len(l.steps)))
	}
	for ; l.next < len(l.steps); l.next++ {
		s := l.steps[l.next]
		l.cfg.Clock.set(s.At)
		consents, orders, err := s.messages()
		if err != nil {
			return res, fmt.Errorf("demo: week to %s: %w", s.At.Format(time.DateOnly), err)
		}
		// The consents are applied before the orders are written, so that
		// the campaigns deciding on the orders' changes find them.
		if len(consents) > 0 {
			if err := l.cfg.Out.WriteMessages(ctx, consents...); err != nil {
				return res, fmt.Errorf("demo: write %d consents: %w", len(consents), err)
			}
			if err := l.wait(ctx, s.At, l.applied); err != nil {
				return res, err
			}
		}
		if len(orders) > 0 {
			if err := l.cfg.Out.WriteMessages(ctx, orders...); err != nil {
				return res, fmt.Errorf("demo: write %d orders: %w", len(orders), err)
			}
		}
		if err := l.wait(ctx, s.At, l.decided); err != nil {
			return res, err
		}
		if err := l.rdb.Set(ctx, ProgressKey(ns), s.At.Format(time.RFC3339), 0).Err(); err != nil {
			return res, fmt.Errorf("demo: record the week to %s: %w", s.At.Format(time.DateOnly), err)
		}
		res.Weeks++
		res.Orders += len(orders)
		res.Consents += len(consents)
		if n := l.next + 1; n%10 == 0 || n == len(l.steps) {
			log.Info("CDNOW sample loading", zap.String("progress", fmt.Sprintf("week %d of %d", n, len(l.steps))),
				zap.String("clock", s.At.Format(time.DateOnly)))
		}
	}
	if l.cfg.IndexGroup != "" {
		if err := l.wait(ctx, l.cfg.Until, l.indexed); err != nil {
			return res, err
		}
	}
	if err := l.rdb.Set(ctx, LoadedKey(ns), time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return res, fmt.Errorf("demo: record the load: %w", err)
	}
	l.done = true
	return res, nil
}

// check is one look at whether the services are done with what falls due
// by T. It returns what they have left (empty: done) and the end offsets of
// the topics looked at, which must not move between two looks that find
// them done (see wait).
type check func(ctx context.Context, T time.Time) (left, ends string, err error)

// stuck is how long a week may wait before the load says so in the log.
const stuck = 30 * time.Second

// wait polls done until two looks in a row find the services done with
// the same topic ends. One look can find them done while a change is on
// its way: the profile-updater settles the timers due (its backlog is 0)
// and then publishes their changes; the second look sees those.
func (l *Loader) wait(ctx context.Context, T time.Time, done check) error {
	start, warned := time.Now(), time.Now()
	prev := ""
	for {
		left, ends, err := done(ctx, T)
		if err == nil && left == "" {
			if ends == prev {
				return nil
			}
			prev = ends
		} else {
			prev = ""
		}
		if time.Since(warned) >= stuck {
			warned = time.Now()
			l.cfg.Log.Warn("the CDNOW sample's load waits for the services", zap.String("week_end", T.Format(time.RFC3339)),
				zap.String("left", left), zap.Duration("waited", time.Since(start).Round(time.Second)), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.cfg.Poll):
		}
	}
}

// applied is done when the profile-updater has applied every event and
// every timer due by T.
func (l *Loader) applied(ctx context.Context, T time.Time) (string, string, error) {
	left := ""
	lag, ends, err := l.lag(ctx, l.cfg.UpdaterGroup, event.Topics)
	if err != nil {
		return "", "", err
	}
	if lag > 0 {
		left = fmt.Sprintf("%d events to apply", lag)
	}
	n, err := l.cfg.Store.Backlog(ctx, T)
	if err != nil {
		return "", "", err
	}
	if n > 0 {
		left = join(left, fmt.Sprintf("%d profile timers due", n))
	}
	return left, ends, nil
}

// decided is applied, and the trigger service (if it runs) has decided on
// every event and profile change and on every wait due by T.
func (l *Loader) decided(ctx context.Context, T time.Time) (string, string, error) {
	left, ends, err := l.applied(ctx, T)
	if err != nil || l.cfg.TriggerGroup == "" {
		return left, ends, err
	}
	lag, tends, err := l.lag(ctx, l.cfg.TriggerGroup, append(event.Topics[:len(event.Topics):len(event.Topics)], event.TopicProfiles))
	if err != nil {
		return "", "", err
	}
	if lag > 0 {
		left = join(left, fmt.Sprintf("%d events and changes to decide on", lag))
	}
	n, err := trigger.Backlog(ctx, l.rdb, T)
	if err != nil {
		return "", "", err
	}
	if n > 0 {
		left = join(left, fmt.Sprintf("%d campaign waits due", n))
	}
	return left, ends + tends, nil
}

// indexed is done when the segment index has every profile change.
func (l *Loader) indexed(ctx context.Context, _ time.Time) (string, string, error) {
	lag, ends, err := l.lag(ctx, l.cfg.IndexGroup, []string{event.TopicProfiles})
	if err != nil || lag == 0 {
		return "", ends, err
	}
	return fmt.Sprintf("%d changes to index", lag), ends, nil
}

// lag returns what group has not committed of topics, and the topics' ends.
func (l *Loader) lag(ctx context.Context, group string, topics []string) (int64, string, error) {
	parts, err := stream.GroupLag(ctx, l.cfg.Brokers, l.cfg.Security, group, topics)
	if err != nil {
		return 0, "", err
	}
	slices.SortFunc(parts, func(a, b stream.PartitionLag) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), a.Partition-b.Partition)
	})
	var n int64
	var ends strings.Builder
	for _, p := range parts {
		n += p.Lag()
		fmt.Fprintf(&ends, "%s/%d:%d ", p.Topic, p.Partition, p.End)
	}
	return n, ends.String(), nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}
