package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/health"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/trigger"
)

// Decider decides a broadcast's members through a campaign's guards and
// publishes the decisions: a trigger.Engine.
type Decider interface {
	// Broadcast decides customers' entry into campaign by the occurrence
	// cause and returns their outcomes (trigger.Engine.Broadcast).
	Broadcast(ctx context.Context, T time.Time, campaign, cause string, customers []string) ([]string, error)
	// Locations returns the customers' time zones.
	Locations(ctx context.Context, T time.Time, customers []string) ([]*time.Location, error)
	// Outcomes returns the outcomes published for the customers by
	// campaign and cause, "" for one not decided yet (still waiting for
	// the end of the quiet hours) (trigger.Engine.Outcomes).
	Outcomes(ctx context.Context, campaign, cause string, customers []string) ([]string, error)
}

var _ Decider = (*trigger.Engine)(nil)

// ErrAudience is the error of an audience that can no longer be evaluated
// (a name that means nothing any more); the broadcast fails with it.
var ErrAudience = errors.New("audience cannot be evaluated")

// Audience evaluates audience expressions on the population.
type Audience interface {
	// Members returns, in id order, up to limit of the customers expr
	// selects at T whose ids sort after after.
	Members(ctx context.Context, T time.Time, expr, after string, limit int) ([]string, error)
}

// Runner runs the broadcasts of a Store: see the package comment. It is not
// safe for concurrent use; several runners (processes) may step the same
// store.
type Runner struct {
	Store    *Store
	Decider  Decider
	Audience Audience
	Log      *zap.Logger
	// Batch is the most members one step decides. Default 500.
	Batch int
	// Fill is the most members one step queues while an occurrence opens.
	// Default 5000.
	Fill int
	// Lease is how long a runner keeps a broadcast to itself after a step:
	// longer than a step takes, and how long a broadcast waits for another
	// runner when the one stepping it dies. Default 10s.
	Lease time.Duration
	// Grace is how late an occurrence of a recurring broadcast may begin:
	// one whose hour has passed in the last time zone by more than Grace
	// when the runner comes to it (a runner stopped for that long) is
	// skipped, and counted in Progress.OccurrencesSkipped, so that a
	// restart does not send every missed occurrence late, one after
	// another. Default 24h.
	Grace time.Duration
	// Settle is how often, at most, the runner looks for members who waited
	// for the end of the quiet hours and have been decided since, to count
	// their outcomes. Default 10s.
	Settle time.Duration

	owner    string
	defs     map[string]Broadcast
	buckets  map[string]*bucket
	settled  map[string]time.Time // when each broadcast was last settled
	failed   int
	throttle health.Throttle
}

func (r *Runner) init() {
	if r.owner == "" {
		r.owner = uuid.NewString()
		r.defs = map[string]Broadcast{}
		r.buckets = map[string]*bucket{}
		r.settled = map[string]time.Time{}
		r.throttle = health.Throttle{Every: 10 * time.Second}
	}
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Fill <= 0 {
		r.Fill = 5000
	}
	if r.Lease <= 0 {
		r.Lease = 10 * time.Second
	}
	if r.Grace <= 0 {
		r.Grace = 24 * time.Hour
	}
	if r.Settle <= 0 {
		r.Settle = 10 * time.Second
	}
	if r.Log == nil {
		r.Log = zap.NewNop()
	}
}

// Step takes one step of every broadcast not finished, as of now: it
// queues a page of an opening occurrence's audience, or decides the members
// due that the broadcast's rate allows. A broadcast whose step fails is
// logged and tried again at the next step; Step's error is only that the
// broadcasts could not be listed.
func (r *Runner) Step(ctx context.Context, now time.Time) error {
	r.init()
	ids, err := r.Store.rdb.SMembers(ctx, activeKey()).Result()
	if err != nil {
		return fmt.Errorf("list active broadcasts: %w", err)
	}
	for _, id := range ids {
		err := r.step(ctx, now, id)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// One broadcast's failure (Redis or Kafka out of reach, a profile
		// that cannot be read) must not hold back the others or the
		// triggered decisions of the service stepping it: it is tried again
		// at the next step, from its queue.
		r.failed++
		if held, ok := r.throttle.Allow(id, time.Now()); ok {
			r.Log.Warn("broadcast step failed; trying again at the next step", zap.String("broadcast", id), zap.Int("failures_not_logged", held), zap.Error(err))
		}
	}
	return nil
}

// Failures is how many steps of a broadcast have failed.
func (r *Runner) Failures() int { return r.failed }

// Idle tells whether no broadcast has members left to decide as of now:
// for tests and tools that run broadcasts to the end. A broadcast finished
// but for members waiting for the end of the quiet hours is idle.
func (r *Runner) Idle(ctx context.Context, now time.Time) (bool, error) {
	n, err := r.Store.rdb.SCard(ctx, activeKey()).Result()
	if err != nil || n == 0 {
		return n == 0, err
	}
	ids, err := r.Store.rdb.SMembers(ctx, activeKey()).Result()
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		h, err := r.Store.rdb.HMGet(ctx, stateKey(id), fOpens, fFinished, fCancelled, fError).Result()
		if err != nil {
			return false, err
		}
		if h[1] != nil || h[2] != nil || h[3] != nil {
			continue
		}
		ms, _ := strconv.ParseInt(fmt.Sprint(h[0]), 10, 64)
		if !time.UnixMilli(ms).After(now) {
			return false, nil
		}
	}
	return true, nil
}

func (r *Runner) step(ctx context.Context, now time.Time, id string) error {
	held, err := leaseScript.Run(ctx, r.Store.rdb, []string{leaseKey(id)}, r.owner, r.Lease.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("take lease: %w", err)
	}
	if held == 0 {
		return nil // another runner's
	}
	b, ok := r.defs[id]
	if !ok {
		if b, err = r.Store.def(ctx, id); err != nil {
			return err
		}
		r.defs[id] = b
	}
	h, err := r.Store.rdb.HGetAll(ctx, stateKey(id)).Result()
	if err != nil {
		return fmt.Errorf("read progress: %w", err)
	}
	if h[fCancelled] != "" || h[fFinished] != "" || h[fError] != "" {
		return r.settleOrRetire(ctx, now, &b)
	}
	if err := r.settle(ctx, now, &b); err != nil {
		return err
	}
	ms, _ := strconv.ParseInt(h[fOpens], 10, 64)
	occ := occurrence{key: h[fOccurrence], epoch: h[fOpens], opens: time.UnixMilli(ms)}
	if occ.key == "" || now.Before(occ.opens) {
		return nil
	}
	begun := h[fFill] != "" || h[fFilled] != ""
	if !begun && b.Schedule.Recurring() && now.Sub(b.dueAt(occ.key, occ.opens, lastZone)) > r.Grace {
		r.Log.Warn("broadcast occurrence skipped: stale", zap.String("broadcast", id), zap.String("occurrence", occ.key), zap.Duration("grace", r.Grace))
		return r.finish(ctx, now, &b, occ, fStale)
	}
	var gone error
	if h[fFilled] == "" {
		gone = r.fill(ctx, now, &b, occ, h[fFill])
	} else {
		gone = r.decide(ctx, now, &b, occ)
	}
	if errors.Is(gone, trigger.ErrNoCampaign) || errors.Is(gone, ErrAudience) {
		r.Log.Warn("broadcast failed", zap.String("broadcast", id), zap.Error(gone))
		if err := r.Store.rdb.HSet(ctx, stateKey(id), fError, gone.Error()).Err(); err != nil {
			return fmt.Errorf("record failure: %w", err)
		}
		return r.settleOrRetire(ctx, now, &b)
	}
	return gone
}

// occurrence is the occurrence a broadcast is at: its key, and when it
// opened, in ms (its epoch in the shards of the queue) and as a time.
type occurrence struct {
	key, epoch string
	opens      time.Time
}

// settleOrRetire settles a finished broadcast's members who wait for the
// end of the quiet hours, and once none is left, forgets its queue and
// stops stepping it.
func (r *Runner) settleOrRetire(ctx context.Context, now time.Time, b *Broadcast) error {
	if err := r.settle(ctx, now, b); err != nil {
		return err
	}
	waiting, err := r.waiting(ctx, b.ID)
	if err != nil || waiting > 0 {
		return err
	}
	pipe := r.Store.rdb.Pipeline()
	for n := range keys.Shards {
		pipe.Del(ctx, queueKey(b.ID, n))
	}
	pipe.Del(ctx, leaseKey(b.ID))
	pipe.SRem(ctx, activeKey(), b.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	delete(r.defs, b.ID)
	delete(r.buckets, b.ID)
	delete(r.settled, b.ID)
	return nil
}

// fill queues the next page of the occurrence's audience, after the member
// queued last, each at their due time in the shard of the queue that holds
// them, then moves the fill past the page.
func (r *Runner) fill(ctx context.Context, now time.Time, b *Broadcast, occ occurrence, after string) error {
	ids, err := r.Audience.Members(ctx, now, b.Audience, after, r.Fill)
	if err != nil {
		return err
	}
	var locs []*time.Location
	if b.Schedule.Recurring() && len(ids) > 0 {
		if locs, err = r.Decider.Locations(ctx, now, ids); err != nil {
			return err
		}
	}
	last, filled := after, "0"
	if len(ids) > 0 {
		last = ids[len(ids)-1]
	}
	if len(ids) < r.Fill {
		filled = "1"
	}
	pairs := map[int][]any{}
	skipped := 0
	for i, c := range ids {
		due := occ.opens
		if locs != nil {
			due = b.dueAt(occ.key, occ.opens, locs[i])
		}
		if due.Before(b.CreatedAt) {
			// The first occurrence of a recurring broadcast, for a customer
			// whose hour had passed when it was made: theirs is the next.
			skipped++
			continue
		}
		n := keys.ShardOf(c)
		if pairs[n] == nil {
			pairs[n] = []any{occ.epoch}
		}
		pairs[n] = append(pairs[n], due.UnixMilli(), c)
	}
	calls := make([]shardCall, 0, len(pairs))
	for n, args := range pairs {
		calls = append(calls, shardCall{keys: []string{countsKey(b.ID, n), queueKey(b.ID, n)}, args: args})
	}
	if _, err := evalShards(ctx, r.Store.rdb, shardFillScript, calls); err != nil {
		return fmt.Errorf("queue members: %w", err)
	}
	if err := fillScript.Run(ctx, r.Store.rdb, []string{stateKey(b.ID)}, occ.key, after, last, filled, skipped).Err(); err != nil {
		return fmt.Errorf("move the fill: %w", err)
	}
	if filled == "1" {
		r.Log.Info("broadcast occurrence open", zap.String("broadcast", b.ID), zap.String("occurrence", occ.key))
	}
	return nil
}

// decide decides the members due that the rate allows, across the shards
// of the queue, and finishes the occurrence when none is left.
func (r *Runner) decide(ctx context.Context, now time.Time, b *Broadcast, occ occurrence) error {
	bk := r.buckets[b.ID]
	if bk == nil {
		bk = &bucket{rate: float64(b.rate()), tokens: float64(b.rate()), at: now}
		r.buckets[b.ID] = bk
	}
	n := min(r.Batch, bk.take(now))
	if n == 0 {
		return nil
	}
	calls := make([]shardCall, keys.Shards)
	for s := range calls {
		calls[s] = shardCall{keys: []string{countsKey(b.ID, s), queueKey(b.ID, s)}, args: []any{occ.epoch, now.UnixMilli(), n}}
	}
	cmds, err := evalShards(ctx, r.Store.rdb, shardDueScript, calls)
	if err != nil {
		return fmt.Errorf("read queue: %w", err)
	}
	left := int64(0)
	each := make([][]redis.Z, len(cmds))
	for s, cmd := range cmds {
		vals, err := cmd.Slice()
		if err != nil || len(vals) == 0 {
			return fmt.Errorf("read queue: %v", vals)
		}
		k, _ := vals[0].(int64)
		left += k
		for i := 1; i+1 < len(vals); i += 2 {
			c, _ := vals[i].(string)
			ms, _ := vals[i+1].(string)
			score, _ := strconv.ParseFloat(ms, 64)
			each[s] = append(each[s], redis.Z{Score: score, Member: c})
		}
	}
	var due []string
	for _, z := range keyspace.Merge(each, n) {
		due = append(due, z.Member.(string))
	}
	if len(due) == 0 {
		if left > 0 {
			return nil // members whose hour is still to come
		}
		return r.finish(ctx, now, b, occ, fOccurrences)
	}
	// A member erased since the audience was taken is no member: no
	// decision names them.
	erased, err := privacy.New(r.Store.rdb).Erased(ctx, due)
	if err != nil {
		return err
	}
	var kept []string
	for _, c := range due {
		if at, ok := erased[c]; !ok || at.Before(occ.opens) {
			kept = append(kept, c)
		}
	}
	outcomes, err := r.Decider.Broadcast(ctx, now, b.Campaign, Cause(b.ID, occ.key), kept)
	if err != nil {
		return err
	}
	bk.spend(len(due))
	got := make(map[string]string, len(due))
	for i, c := range kept {
		got[c] = outcomes[i]
	}
	for _, c := range due {
		if _, ok := got[c]; !ok {
			got[c] = Erased
		}
	}
	calls = calls[:0]
	for s, is := range byShard(due) {
		args := []any{occ.epoch, occ.key, trigger.Waiting}
		for _, i := range is {
			args = append(args, due[i], got[due[i]])
		}
		calls = append(calls, shardCall{keys: []string{countsKey(b.ID, s), queueKey(b.ID, s), waitingKey(b.ID, s)}, args: args})
	}
	if _, err := evalShards(ctx, r.Store.rdb, shardDecidedScript, calls); err != nil {
		return fmt.Errorf("count decisions: %w", err)
	}
	return nil
}

// finish ends an occurrence — whose members are all decided, or stale,
// counted in field — and schedules the next one of a recurring broadcast.
func (r *Runner) finish(ctx context.Context, now time.Time, b *Broadcast, occ occurrence, field string) error {
	next, opens, ok := b.next(occ.key)
	nextOpens := int64(0)
	if ok {
		nextOpens = opens.UnixMilli()
	}
	if err := finishScript.Run(ctx, r.Store.rdb, []string{stateKey(b.ID)}, occ.key, next, nextOpens, now.UnixMilli(), field).Err(); err != nil {
		return fmt.Errorf("finish occurrence: %w", err)
	}
	r.Log.Info("broadcast occurrence finished", zap.String("broadcast", b.ID), zap.String("occurrence", occ.key), zap.String("as", field), zap.String("next", next))
	if !ok {
		return r.settleOrRetire(ctx, now, b)
	}
	// The shards of the queue move to the next occurrence, which frees the
	// members of this one; a shard missed here (a crash) moves when the
	// next occurrence first queues a member in it.
	calls := make([]shardCall, keys.Shards)
	for s := range calls {
		calls[s] = shardCall{keys: []string{countsKey(b.ID, s), queueKey(b.ID, s)}, args: []any{nextOpens}}
	}
	if _, err := evalShards(ctx, r.Store.rdb, shardResetScript, calls); err != nil {
		return fmt.Errorf("empty the queue: %w", err)
	}
	return nil
}

// settle counts the final outcome of members who were waiting for the end
// of the quiet hours and have been decided since, at most every Settle and
// a Batch of each shard at a time.
func (r *Runner) settle(ctx context.Context, now time.Time, b *Broadcast) error {
	if last, ok := r.settled[b.ID]; ok && now.Sub(last) < r.Settle {
		return nil
	}
	r.settled[b.ID] = now
	cmds := make([]*redis.StringSliceCmd, keys.Shards)
	pipe := r.Store.rdb.Pipeline()
	for s := range cmds {
		cmds[s] = pipe.SRandMemberN(ctx, waitingKey(b.ID, s), int64(r.Batch))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read members waiting: %w", err)
	}
	type entry struct {
		shard  int
		member string
	}
	byOcc := map[string][]entry{}
	for s, cmd := range cmds {
		for _, m := range cmd.Val() {
			occ, c, ok := strings.Cut(m, "|")
			if ok {
				byOcc[occ] = append(byOcc[occ], entry{shard: s, member: c})
			}
		}
	}
	pairs := map[int][]any{}
	for occ, es := range byOcc {
		customers := make([]string, len(es))
		for i, e := range es {
			customers[i] = e.member
		}
		outcomes, err := r.Decider.Outcomes(ctx, b.Campaign, Cause(b.ID, occ), customers)
		if err != nil {
			return err
		}
		for i, e := range es {
			if outcomes[i] == "" {
				continue // still waiting
			}
			if pairs[e.shard] == nil {
				pairs[e.shard] = []any{trigger.Waiting}
			}
			pairs[e.shard] = append(pairs[e.shard], occ+"|"+e.member, outcomes[i])
		}
	}
	calls := make([]shardCall, 0, len(pairs))
	for s, args := range pairs {
		calls = append(calls, shardCall{keys: []string{countsKey(b.ID, s), waitingKey(b.ID, s)}, args: args})
	}
	if _, err := evalShards(ctx, r.Store.rdb, shardSettleScript, calls); err != nil {
		return fmt.Errorf("count outcomes of members waiting: %w", err)
	}
	return nil
}

// waiting returns how many of broadcast id's members wait for the end of
// the quiet hours, in one pipeline.
func (r *Runner) waiting(ctx context.Context, id string) (int64, error) {
	cmds := make([]*redis.IntCmd, keys.Shards)
	pipe := r.Store.rdb.Pipeline()
	for s := range cmds {
		cmds[s] = pipe.SCard(ctx, waitingKey(id, s))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count members waiting: %w", err)
	}
	n := int64(0)
	for _, cmd := range cmds {
		n += cmd.Val()
	}
	return n, nil
}

// Erased is the outcome counted for a member erased after the occurrence
// opened: they get no decision.
const Erased = "erased"

// Cause is the cause of the decisions of broadcast id's occurrence occ,
// from which their ids derive.
func Cause(id, occ string) string { return "broadcast:" + id + ":" + occ }

// bucket is a token bucket of decisions: rate a second, at most a second's
// worth saved.
type bucket struct {
	rate, tokens float64
	at           time.Time
}

func (b *bucket) take(now time.Time) int {
	if now.After(b.at) {
		b.tokens = min(b.rate, b.tokens+b.rate*now.Sub(b.at).Seconds())
		b.at = now
	}
	return int(b.tokens)
}

func (b *bucket) spend(n int) { b.tokens -= float64(n) }
