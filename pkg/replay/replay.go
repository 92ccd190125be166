// Package replay re-applies Kafka topics to the profile store: in place, or
// into a fresh namespace that is switched live once it has caught up
// (a blue/green rebuild after a change of the RFM window or the tag rules).
//
// # Event time
//
// A replay reads each partition of the chosen topics from a start offset (an
// explicit one, or the broker's offset for a time) to an end offset, merges
// the partitions by event time, sorts what it reads by event time a window
// (Config.SortWindow) at a time, and applies the events in batches whose
// events lie within Config.Step of each other, as of the latest event time of
// the batch. Before each batch the profile timers due by its first event fall
// due, in event time too. So NES stages and RFM values as of each event are
// what they were then (to within Step), and time never goes back: an event
// older than the replay's clock is applied as of the clock. When the range is
// done, the timers due up to Config.Now fall due, so the namespace is current.
//
// With Config.Bulk the events are written without evaluation, in batches of
// BatchSize whatever their times, and every customer is evaluated once at
// the end, as of Now: the same final profiles, several times faster, but no
// history of changes (see BenchmarkReplay).
//
// # No trigger for the past
//
// The profile changes a replay computes are committed to the store (so the
// live updater does not announce them again) and, by default, published
// nowhere. With Changes set to ChangesBackfill they are published on the
// profiles topic marked with the backfill extension, and the trigger service
// records each campaign they would enter as suppressed with reason backfill.
// Either way no trigger reaches the triggers topic for the past.
//
// # Erased customers
//
// Events of a customer in the privacy record with event time not after the
// erasure are dropped (privacy.Dropped), and so are identity merges of an
// erased visitor: a replay never recreates them.
//
// # Resume
//
// The plan of a replay — per partition, the next offset to apply and the end
// offset — and its event-time clock are kept in the target namespace under
// <ns>:{#replay}:progress, updated after each sort window is applied. A
// replay stopped anywhere (Ctrl-C, a crash) and started again with the same
// topics continues from there; re-applying the window under way when it
// stopped is harmless because every write of the store is a join.
//
// # Switch
//
// With Config.Switch, once the range is applied the replay catches up with
// the topics' current end offsets, round after round, until fewer than
// Config.SwitchLag events remain, and then switches: one SET of
// profile.LiveKey. The profile-updater and the trigger service resolve the
// live namespace per batch, so every batch the updater starts after the SET
// is applied to the new namespace. A batch applied to the old namespace was
// fetched before the SET, so its events lie below the end offsets read right
// after it; a last catch-up to those offsets, then the timers up to now, puts
// them into the new namespace too. The live updater and that last catch-up
// may apply the same events to the new namespace; joins make the overlap
// harmless, and the population keeps the latest evaluation of each customer.
// Once the namespace is live, the last catch-up evaluates as of now, like the
// updater, so that no published snapshot moves back in time.
//
// Right before the SET, the segment index of the new namespace (pkg/index)
// is rebuilt from the snapshots its profiles published, with the NES record
// by day of the namespace live until then, so that the read API, which
// follows the switch at its next request, finds it complete; the
// changes of the last catch-up are indexed as they are committed, and the
// indexer indexes the updater's changes in the namespace live then. Between the SET
// and the end of the last catch-up, a few profiles read from the new
// namespace may miss their most recent events.
//
// # In place
//
// A replay into the live namespace (Config.InPlace) applies the events —
// those applied already change nothing, the others fill gaps — and
// evaluates them as of now, as the live updater does: the snapshots a live
// namespace has published are those of now, and evaluating it in the past
// would make the updater announce them again. History in event time is what
// a fresh namespace is for. The old namespace
// stays until it is dropped (profile.DropNamespace).
//
// # Dead letters
//
// Replaying events.invalid re-validates each dead letter's original as the
// pipeline would (the current schemas, and the profile-updater's checks:
// currency, bounds) and re-publishes those it would now accept on their
// topic, with their original id and event time, once: the ids re-published
// are kept (RevivedKey), so a second replay of the topic re-publishes
// nothing.
package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// What a replay does with the profile changes it computes.
const (
	// ChangesDrop publishes none.
	ChangesDrop = "drop"
	// ChangesBackfill publishes them on the profiles topic marked with the
	// event.ExtBackfill extension.
	ChangesBackfill = "backfill"
)

// Partition is one partition of a topic.
type Partition struct {
	Topic     string
	Partition int
}

func (p Partition) String() string { return p.Topic + "/" + strconv.Itoa(p.Partition) }

// ParsePartition parses "topic/partition".
func ParsePartition(s string) (Partition, error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return Partition{}, fmt.Errorf("partition %q: want topic/partition", s)
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return Partition{}, fmt.Errorf("partition %q: want topic/partition", s)
	}
	return Partition{Topic: s[:i], Partition: n}, nil
}

// Config configures a Replayer. Zero values mean the defaults on each field.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// Topics are replayed. Default: browse, cart, purchase, identify.
	Topics []string
	// From starts each partition at the first message written at or after it
	// (the broker's offset-for-time lookup on message timestamps, which are
	// the times the events were written to Kafka). Zero: the first offset.
	From time.Time
	// Offsets are explicit start offsets; they win over From.
	Offsets map[Partition]int64
	// BatchSize is the most events applied together. Default 500.
	BatchSize int
	// SortWindow is how many messages are read ahead, merged from the
	// partitions, and sorted by event time before they are applied; the
	// progress is saved after each window. An event out of order by more
	// than the window is applied as of the replay's clock, later than its
	// time. Default 50,000.
	SortWindow int
	// Step is the event-time resolution: events and timers within Step of
	// each other are evaluated as of one time. Default 1h.
	Step time.Duration
	// Changes is ChangesDrop (default) or ChangesBackfill.
	Changes string
	// Switch makes the target namespace live once it has caught up.
	Switch bool
	// SwitchLag is how many events may remain to catch up when switching.
	// Default 1000.
	SwitchLag int64
	// Fresh discards an unfinished replay into the same namespace instead of
	// resuming it.
	Fresh bool
	// InPlace tells that the target namespace is the live one. Its events
	// are then evaluated as of Now, as the live profile-updater evaluates
	// them: a live namespace holds the snapshots published as of now, and
	// evaluating it in the past would move them back, so that the updater
	// would announce them again. The same holds after a switch.
	InPlace bool
	// Bulk writes the events without evaluating anyone in event time
	// (profile.Store.Write, in batches of BatchSize whatever their times), and
	// then evaluates every customer of the namespace once, as of Now. It is
	// the fast way to rebuild profiles after a rule change: the final state is
	// the same, but no profile change of the past is computed, so Changes
	// must be drop.
	Bulk bool
	// Now is the live clock: timers fall due up to it at the end. Default
	// time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if len(c.Topics) == 0 {
		c.Topics = event.Topics
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Step <= 0 {
		c.Step = time.Hour
	}
	if c.SortWindow <= 0 {
		c.SortWindow = 50_000
	}
	if c.Changes == "" {
		c.Changes = ChangesDrop
	}
	if c.SwitchLag <= 0 {
		c.SwitchLag = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Result counts what a replay did.
type Result struct {
	Read    int64 // messages read
	Applied int64 // events applied to profiles
	Erased  int64 // events of erased customers, dropped
	Skipped int64 // messages that are not applicable events (not a CloudEvent, another currency)
	Timers  int64 // time-driven evaluations
	Changes int64 // profile changes computed
	Revived int64 // dead letters valid now and re-published
	// Republished counts the dead letters valid now whose original was
	// re-published already (by an earlier replay, or for another letter).
	Republished int64
	Invalid     int64 // dead letters still invalid
	Resumed     bool  // an unfinished replay was continued
	Switched    bool  // the target namespace was made live
}

// Replayer replays topics into one namespace of the profile store.
type Replayer struct {
	cfg    Config
	store  *profile.Store
	rdb    redis.UniversalClient
	erased *privacy.Registry
	out    Producer
	log    *zap.Logger
	redo   *reviver
	// Progress, if set, is told after each batch how many messages of the
	// plan are done, and how many there are in all.
	Progress func(done, total int64)

	plan *plan
	T    time.Time // the replay's clock: event time
	// asOfNow: the namespace is live (in place, or switched), so events are
	// evaluated as of Now.
	asOfNow bool
}

// New returns a replayer into store, the namespace to build (the live one
// for a replay in place). out receives backfill changes and revived dead
// letters; it may be nil when there are none to write.
func New(cfg Config, store *profile.Store, rdb redis.UniversalClient, out Producer, log *zap.Logger) (*Replayer, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("replay: no brokers")
	}
	if cfg.Changes != ChangesDrop && cfg.Changes != ChangesBackfill {
		return nil, fmt.Errorf("replay: changes %q: want %s or %s", cfg.Changes, ChangesDrop, ChangesBackfill)
	}
	if cfg.Bulk && cfg.Changes != ChangesDrop {
		return nil, errors.New("replay: a bulk replay computes no change of the past to publish: changes must be drop")
	}
	needsOut := cfg.Changes == ChangesBackfill || slices.Contains(cfg.Topics, event.TopicInvalid)
	if needsOut && out == nil {
		return nil, errors.New("replay: a producer is needed to publish backfill changes or revived dead letters")
	}
	r := &Replayer{cfg: cfg, store: store, rdb: rdb, erased: privacy.New(rdb), out: out, log: log.Named("replay"), asOfNow: cfg.InPlace}
	// Until it is switched live, the namespace being built has no other
	// writer: the store need not read the timers while none can be due.
	store.SoleScheduler(!cfg.InPlace)
	if slices.Contains(cfg.Topics, event.TopicInvalid) {
		rv, err := newReviver(store.Currency())
		if err != nil {
			return nil, err
		}
		r.redo = rv
	}
	return r, nil
}

// Run replays the plan — a new one, or the unfinished one found in the
// target namespace — then, with Switch, catches up and switches. Cancelling
// ctx stops it after the batch under way, with the progress saved; Run then
// returns ctx's error.
func (r *Replayer) Run(ctx context.Context) (Result, error) {
	var res Result
	if err := profile.RegisterNamespace(ctx, r.rdb, r.store.Prefix()); err != nil {
		return res, err
	}
	p, resumed, err := r.loadPlan(ctx)
	if err != nil {
		return res, err
	}
	res.Resumed = resumed
	r.plan = p
	r.T = p.T
	r.log.Info("replay", zap.String("namespace", r.store.Prefix()), zap.Strings("topics", r.cfg.Topics),
		zap.Bool("resumed", resumed), zap.Int64("events", p.remaining()))
	if err := r.read(ctx, &res); err != nil {
		return res, err
	}
	if r.cfg.Switch {
		if err := r.catchUpAndSwitch(ctx, &res); err != nil {
			return res, err
		}
	}
	if err := r.current(ctx, &res); err != nil {
		return res, err
	}
	if err := r.finish(ctx); err != nil {
		return res, err
	}
	r.log.Info("replay done", zap.Int64("read", res.Read), zap.Int64("applied", res.Applied), zap.Int64("erased", res.Erased),
		zap.Int64("skipped", res.Skipped), zap.Int64("timers", res.Timers), zap.Int64("changes", res.Changes),
		zap.Int64("revived", res.Revived), zap.Int64("still_invalid", res.Invalid), zap.Bool("switched", res.Switched))
	return res, nil
}

func (r *Replayer) catchUpAndSwitch(ctx context.Context, res *Result) error {
	live, err := profile.LiveNamespace(ctx, r.rdb, "")
	if err != nil {
		return err
	}
	if live == r.store.Prefix() {
		return fmt.Errorf("switch: %s is live already", live)
	}
	for round := 0; ; round++ {
		behind, err := r.extend(ctx)
		if err != nil {
			return err
		}
		if err := r.read(ctx, res); err != nil {
			return err
		}
		if behind <= r.cfg.SwitchLag || round >= 20 {
			break
		}
	}
	if err := r.current(ctx, res); err != nil {
		return err
	}
	ix := index.New(r.rdb, r.store.Prefix())
	n, err := ix.Rebuild(ctx, r.store, r.cfg.Now())
	if err != nil {
		return err
	}
	days, err := ix.CopyDays(ctx, index.New(r.rdb, live), r.cfg.Now())
	if err != nil {
		return err
	}
	r.log.Info("rebuilt the segment index", zap.String("namespace", r.store.Prefix()), zap.Int("customers", n), zap.Int("days_copied", days))
	r.store.SoleScheduler(false) // the live updater schedules timers in it too
	if err := profile.SetLive(ctx, r.rdb, r.store.Prefix()); err != nil {
		return err
	}
	res.Switched = true
	r.asOfNow = true
	r.log.Info("switched the live namespace", zap.String("from", live), zap.String("to", r.store.Prefix()))
	// Events the updater applied to the old namespace before the switch lie
	// below the end offsets as they are now.
	if _, err := r.extend(ctx); err != nil {
		return err
	}
	return r.read(ctx, res)
}

// republish writes the originals revived, those whose id (ids, in the same
// order) was not re-published before, then records their ids in RevivedKey.
// A crash between the two re-publishes them once more, which the consumers'
// dedup by id absorbs.
func (r *Replayer) republish(ctx context.Context, revived []kafka.Message, ids []string, res *Result) error {
	if len(revived) == 0 {
		return nil
	}
	asked := make([]any, len(ids))
	for i, id := range ids {
		asked[i] = id
	}
	done, err := r.rdb.SMIsMember(ctx, RevivedKey, asked...).Result()
	if err != nil {
		return fmt.Errorf("read the dead letters re-published before: %w", err)
	}
	var out []kafka.Message
	var outIDs []any
	seen := map[string]bool{}
	for i, m := range revived {
		if done[i] || seen[ids[i]] {
			res.Republished++
			continue
		}
		seen[ids[i]] = true
		out, outIDs = append(out, m), append(outIDs, ids[i])
	}
	if len(out) == 0 {
		return nil
	}
	if err := r.out.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("re-publish %d dead letters: %w", len(out), err)
	}
	if err := r.rdb.SAdd(ctx, RevivedKey, outIDs...).Err(); err != nil {
		return fmt.Errorf("record %d dead letters re-published: %w", len(out), err)
	}
	res.Revived += int64(len(out))
	return nil
}

// apply applies one batch of events in event time.
func (r *Replayer) apply(ctx context.Context, batch []item, res *Result) (err error) {
	var ops []profile.Op
	var revived []kafka.Message
	var ids []string
	latest := r.T
	for _, it := range batch {
		res.Read++
		if it.topic == event.TopicInvalid {
			m, id, err := r.redo.revive(it)
			if err != nil {
				res.Invalid++
				r.log.Debug("dead letter still invalid", zap.String("partition", it.part.String()), zap.Int64("offset", it.offset), zap.Error(err))
				continue
			}
			revived, ids = append(revived, m), append(ids, id)
			continue
		}
		if it.err != nil {
			res.Skipped++
			continue
		}
		op, err := profile.OpOf(it.ev, r.store.Currency())
		if err != nil {
			res.Skipped++
			continue
		}
		ops = append(ops, op)
		if it.at.After(latest) {
			latest = it.at
		}
	}
	ops, err = r.dropErased(ctx, ops, res)
	if err != nil {
		return err
	}
	// An erasure recorded while this batch is written may have run before
	// the batch's writes: look again once they are done.
	defer func() {
		if err == nil {
			err = r.eraseAgain(ctx, ops)
		}
	}()
	if err := r.republish(ctx, revived, ids, res); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if r.cfg.Bulk {
		return r.write(ctx, latest, ops, res)
	}
	if r.asOfNow {
		// The live updater's timers run as of now; so do this batch's.
		now := r.cfg.Now()
		if now.Before(latest) {
			now = latest
		}
		changes, _, err := r.store.Apply(ctx, now, ops)
		if err != nil {
			return err
		}
		r.T = now
		res.Applied += int64(len(ops))
		return r.publish(ctx, changes, res)
	}
	first := batch[0].at
	if err := r.timers(ctx, first, res); err != nil {
		return err
	}
	changes, _, err := r.store.Apply(ctx, latest, ops)
	if err != nil {
		return err
	}
	r.T = latest
	res.Applied += int64(len(ops))
	return r.publish(ctx, changes, res)
}

// write applies ops without evaluating anyone, but for identity merges,
// which only Apply makes.
func (r *Replayer) write(ctx context.Context, T time.Time, ops []profile.Op, res *Result) error {
	for len(ops) > 0 {
		j := 0
		for j < len(ops) && (ops[j].Merge == "" || ops[j].Merge == ops[j].Customer) {
			j++
		}
		if _, err := r.store.Write(ctx, T, ops[:j]); err != nil {
			return err
		}
		if j < len(ops) {
			changes, _, err := r.store.Apply(ctx, T, ops[j:j+1])
			if err != nil {
				return err
			}
			if err := r.publish(ctx, changes, res); err != nil {
				return err
			}
			j++
		}
		res.Applied += int64(j)
		ops = ops[j:]
	}
	r.T = T
	return nil
}

// current brings the namespace to Now: the timers due fall due, and after a
// bulk write every customer is evaluated against the whole population
// (profile.Store.Rescore).
func (r *Replayer) current(ctx context.Context, res *Result) error {
	now := r.cfg.Now()
	if r.cfg.Bulk {
		if now.Before(r.T) {
			now = r.T
		}
		// A replay publishes no summaries: a switch makes the namespace
		// live, and the views load it from Redis.
		err := r.store.Rescore(ctx, now, profile.Cause{}, func(changes []profile.Change, _ []string) error {
			return r.publish(ctx, changes, res)
		})
		if err != nil {
			return err
		}
	}
	return r.timers(ctx, now, res)
}

// dropErased drops the ops of erased customers, and the identity merges of
// erased visitors.
func (r *Replayer) dropErased(ctx context.Context, ops []profile.Op, res *Result) ([]profile.Op, error) {
	var customers []string
	for _, op := range ops {
		customers = append(customers, op.Customer)
		if op.Merge != "" {
			customers = append(customers, op.Merge)
		}
	}
	erased, err := r.erased.Erased(ctx, customers)
	if err != nil || len(erased) == 0 {
		return ops, err
	}
	kept := ops[:0]
	for _, op := range ops {
		if privacy.Dropped(erased, op.Customer, op.Time) {
			res.Erased++
			continue
		}
		if op.Merge != "" && privacy.Dropped(erased, op.Merge, op.Time) {
			op.Merge = ""
		}
		kept = append(kept, op)
	}
	return kept, nil
}

// eraseAgain erases the customers of ops whose erasure was recorded while
// their batch was applied: the erasure may have found nothing yet to erase
// in this namespace.
func (r *Replayer) eraseAgain(ctx context.Context, ops []profile.Op) error {
	var customers []string
	for _, op := range ops {
		customers = append(customers, op.Customer)
	}
	erased, err := r.erased.Erased(ctx, customers)
	if err != nil || len(erased) == 0 {
		return err
	}
	done := map[string]bool{}
	for _, op := range ops {
		if privacy.Dropped(erased, op.Customer, op.Time) && !done[op.Customer] {
			done[op.Customer] = true
			if _, err := r.store.Erase(ctx, op.Customer); err != nil {
				return err
			}
		}
	}
	return nil
}

// timers applies the time-driven changes due up to upTo, each group of
// timers due within Step of the earliest as of the latest of them.
func (r *Replayer) timers(ctx context.Context, upTo time.Time, res *Result) error {
	const limit = 500
	for {
		_, at, ok, err := r.store.NextDue(ctx, upTo, r.cfg.Step)
		if err != nil || !ok {
			return err
		}
		if at.Before(r.T) {
			at = r.T
		}
		changes, evaluated, err := r.store.Due(ctx, at, limit)
		if err != nil {
			return err
		}
		n := len(evaluated)
		r.T = at
		res.Timers += int64(n)
		if err := r.publish(ctx, changes, res); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// publish announces changes as the configuration says, then commits them.
func (r *Replayer) publish(ctx context.Context, changes []profile.Change, res *Result) error {
	if len(changes) == 0 {
		return nil
	}
	res.Changes += int64(len(changes))
	if r.cfg.Changes == ChangesBackfill {
		msgs := make([]kafka.Message, 0, len(changes))
		for _, ch := range changes {
			m, err := backfillMessage(ch, r.store.Prefix())
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if err := r.out.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("publish %d backfill changes: %w", len(msgs), err)
		}
	}
	if res.Switched {
		// The namespace is live and its index was rebuilt before the
		// switch: these changes come after, and are published (as backfill)
		// at most. Indexing one twice is harmless.
		if err := index.New(r.rdb, r.store.Prefix()).Apply(ctx, changes); err != nil {
			return err
		}
	}
	return r.store.Commit(ctx, changes)
}

// backfillMessage is a profile.changed of a replay into namespace ns: the
// same id the live updater would give it, marked backfill and with its
// namespace.
func backfillMessage(ch profile.Change, ns string) (kafka.Message, error) {
	e, err := ch.Event("/replay")
	if err != nil {
		return kafka.Message{}, err
	}
	e.SetExtension(event.ExtBackfill, true)
	e.SetExtension(event.ExtNamespace, ns)
	return stream.ToMessage(event.TopicProfiles, e)
}
