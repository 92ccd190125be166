package updater

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/profile"
)

// Rescores rescores the live namespace at each boundary of
// Config.RescoreEvery on the updater's clock (midnight UTC by default), until
// ctx is done: every customer is evaluated against the whole population, and
// the changes the population's own movement brought to customers without an
// event (a segment entered or left as others bought, a tag that reads
// scores) are published. After a rescore at T, each customer's published
// stage, segment, tier, tags and waterfall segment are those of the events
// recorded and T alone, whatever the batches that applied them
// (profile.Store.Rescore). The boundary already passed when Rescores starts
// is not rescored: the updater may not have caught up with its topics yet.
//
// One updater of a group rescores a boundary at a time (Rescore); the others
// wait until it is done. A rescore that fails, or whose updater dies, is
// taken up again, by any of them: a failure after rescoreBackoff, a dead
// updater's once its lease has lapsed (rescoreLease).
func (u *Updater) Rescores(ctx context.Context) error {
	every := u.cfg.RescoreEvery
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	last := u.cfg.Now().Truncate(every)
	var retryAt time.Time
	tick := time.NewTicker(u.cfg.TimerInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		at := u.cfg.Now().Truncate(every)
		if !at.After(last) || time.Now().Before(retryAt) {
			continue
		}
		done, err := u.Rescore(ctx, at)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			u.m.errors.WithLabelValues("rescore").Inc()
			u.log.Warn("rescore failed, trying again", zap.Time("boundary", at), zap.Duration("in", rescoreBackoff), zap.Error(err))
			retryAt = time.Now().Add(rescoreBackoff)
		case done:
			last = at
		}
	}
}

const (
	// rescoreLease is how long a rescore's lease lasts without being
	// renewed: the rescoring updater renews it every third of it, so that
	// it lapses this long after that updater died.
	rescoreLease = 30 * time.Second
	// rescoreBackoff is the wait before a failed rescore is tried again.
	rescoreBackoff = 30 * time.Second
	// The lease's values: a rescore under way, or done.
	rescoreRunning = "running"
	rescoreDone    = "done"
)

// Rescore rescores the live namespace for boundary at, unless another
// updater of the group is doing it or has done it, and tells whether the
// boundary is done (by this updater or another). The timers due are applied
// first, so that the population is current when everyone is scored. The
// changes are caused by the rescore (their Cause.Due is at), so a rescore run
// again after a crash publishes those it had published with the same ids,
// and consumers that dedup on the CloudEvent id see each once.
func (u *Updater) Rescore(ctx context.Context, at time.Time) (bool, error) {
	store, err := u.storeFor(ctx)
	if err != nil {
		return false, err
	}
	rdb, lease := store.Redis(), rescoreLeaseKey(store.Prefix(), at)
	taken, err := rdb.SetNX(ctx, lease, rescoreRunning, rescoreLease).Result()
	if err != nil {
		return false, fmt.Errorf("take the rescore lease of %s: %w", store.Prefix(), err)
	}
	if !taken {
		state, err := rdb.Get(ctx, lease).Result()
		if errors.Is(err, redis.Nil) {
			return false, nil // lapsed meanwhile: taken at the next try
		}
		return state == rescoreDone, err
	}
	renewed, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(rescoreLease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := rdb.Expire(ctx, lease, rescoreLease).Err(); err != nil {
					u.log.Warn("renew the rescore lease", zap.Error(err))
				}
			}
		}
	}()
	start, changed := time.Now(), 0
	err = u.timers(ctx)
	if err == nil {
		T := u.cfg.Now()
		err = store.Rescore(ctx, T, profile.Cause{Due: at}, func(changes []profile.Change, moved []string) error {
			changed += len(changes)
			return u.publish(ctx, store, changes, moved)
		})
	}
	close(stop)
	<-renewed
	bg := context.WithoutCancel(ctx)
	if err != nil {
		// Given back, so that the next try, here or in another updater,
		// takes it.
		if derr := rdb.Del(bg, lease).Err(); derr != nil {
			u.log.Warn("give back the rescore lease", zap.Error(derr))
		}
		return false, err
	}
	if err := rdb.Set(bg, lease, rescoreDone, 2*max(u.cfg.RescoreEvery, time.Hour)).Err(); err != nil {
		return false, fmt.Errorf("record the rescore of %s: %w", store.Prefix(), err)
	}
	u.m.rescoreChanges.Add(float64(changed))
	u.log.Info("rescored", zap.String("namespace", store.Prefix()), zap.Time("boundary", at),
		zap.Int("changes", changed), zap.Duration("took", time.Since(start)))
	return true, nil
}
