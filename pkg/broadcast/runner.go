package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/health"
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

	owner    string
	defs     map[string]Broadcast
	buckets  map[string]*bucket
	failed   int
	throttle health.Throttle
}

func (r *Runner) init() {
	if r.owner == "" {
		r.owner = uuid.NewString()
		r.defs = map[string]Broadcast{}
		r.buckets = map[string]*bucket{}
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
// for tests and tools that run broadcasts to the end.
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
		h, err := r.Store.rdb.HMGet(ctx, stateKey(id), fOpens).Result()
		if err != nil {
			return false, err
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
		return r.retire(ctx, id)
	}
	occ := h[fOccurrence]
	ms, _ := strconv.ParseInt(h[fOpens], 10, 64)
	opens := time.UnixMilli(ms)
	if occ == "" || now.Before(opens) {
		return nil
	}
	var gone error
	if h[fFilled] == "" {
		gone = r.fill(ctx, now, &b, occ, opens, h[fFill])
	} else {
		gone = r.decide(ctx, now, &b, occ, opens)
	}
	if errors.Is(gone, trigger.ErrNoCampaign) || errors.Is(gone, ErrAudience) {
		r.Log.Warn("broadcast failed", zap.String("broadcast", id), zap.Error(gone))
		if err := r.Store.rdb.HSet(ctx, stateKey(id), fError, gone.Error()).Err(); err != nil {
			return fmt.Errorf("record failure: %w", err)
		}
		return r.retire(ctx, id)
	}
	return gone
}

// retire forgets a finished broadcast's queue and stops stepping it.
func (r *Runner) retire(ctx context.Context, id string) error {
	pipe := r.Store.rdb.Pipeline()
	pipe.Del(ctx, queueKey(id), leaseKey(id))
	pipe.SRem(ctx, activeKey(), id)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	delete(r.defs, id)
	delete(r.buckets, id)
	return nil
}

// fill queues the next page of the occurrence's audience, after the member
// queued last, each at their due time.
func (r *Runner) fill(ctx context.Context, now time.Time, b *Broadcast, occ string, opens time.Time, after string) error {
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
	pairs := make([]any, 0, 2*len(ids))
	skipped := 0
	for i, c := range ids {
		due := opens
		if locs != nil {
			due = b.dueAt(occ, opens, locs[i])
		}
		if due.Before(b.CreatedAt) {
			// The first occurrence of a recurring broadcast, for a customer
			// whose hour had passed when it was made: theirs is the next.
			skipped++
			continue
		}
		pairs = append(pairs, due.UnixMilli(), c)
	}
	args := append([]any{occ, after, last, filled, skipped}, pairs...)
	if err := fillScript.Run(ctx, r.Store.rdb, []string{stateKey(b.ID), queueKey(b.ID)}, args...).Err(); err != nil {
		return fmt.Errorf("queue members: %w", err)
	}
	if filled == "1" {
		r.Log.Info("broadcast occurrence open", zap.String("broadcast", b.ID), zap.String("occurrence", occ))
	}
	return nil
}

// decide decides the members due that the rate allows, and finishes the
// occurrence when none is left.
func (r *Runner) decide(ctx context.Context, now time.Time, b *Broadcast, occ string, opens time.Time) error {
	bk := r.buckets[b.ID]
	if bk == nil {
		bk = &bucket{rate: float64(b.rate()), tokens: float64(b.rate()), at: now}
		r.buckets[b.ID] = bk
	}
	n := min(r.Batch, bk.take(now))
	if n == 0 {
		return nil
	}
	due, err := r.Store.rdb.ZRangeByScore(ctx, queueKey(b.ID), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(n)}).Result()
	if err != nil {
		return fmt.Errorf("read queue: %w", err)
	}
	if len(due) == 0 {
		left, err := r.Store.rdb.ZCard(ctx, queueKey(b.ID)).Result()
		if err != nil || left > 0 {
			return err // members whose hour is still to come
		}
		return r.finish(ctx, now, b, occ)
	}
	// A member erased since the audience was taken is no member: no
	// decision names them.
	erased, err := privacy.New(r.Store.rdb).Erased(ctx, due)
	if err != nil {
		return err
	}
	var left []string
	for _, c := range due {
		if at, ok := erased[c]; !ok || at.Before(opens) {
			left = append(left, c)
		}
	}
	outcomes, err := r.Decider.Broadcast(ctx, now, b.Campaign, Cause(b.ID, occ), left)
	if err != nil {
		return err
	}
	bk.spend(len(due))
	args := make([]any, 0, 1+2*len(due))
	args = append(args, occ)
	for i, c := range left {
		args = append(args, c, outcomes[i])
	}
	for _, c := range due {
		if at, ok := erased[c]; ok && !at.Before(opens) {
			args = append(args, c, Erased)
		}
	}
	if err := decidedScript.Run(ctx, r.Store.rdb, []string{stateKey(b.ID), queueKey(b.ID)}, args...).Err(); err != nil {
		return fmt.Errorf("count decisions: %w", err)
	}
	return nil
}

// finish ends an occurrence whose members are all decided, and schedules
// the next one of a recurring broadcast.
func (r *Runner) finish(ctx context.Context, now time.Time, b *Broadcast, occ string) error {
	next, opens, ok := b.next(occ)
	nextOpens := int64(0)
	if ok {
		nextOpens = opens.UnixMilli()
	}
	if err := finishScript.Run(ctx, r.Store.rdb, []string{stateKey(b.ID)}, occ, next, nextOpens, now.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("finish occurrence: %w", err)
	}
	r.Log.Info("broadcast occurrence sent", zap.String("broadcast", b.ID), zap.String("occurrence", occ), zap.String("next", next))
	if !ok {
		return r.retire(ctx, b.ID)
	}
	return nil
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
