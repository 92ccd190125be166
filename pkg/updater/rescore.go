package updater

import (
	"context"
	"fmt"
	"time"

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
// One updater of a group rescores a boundary: the first to take its lease.
// A rescore that fails gives the lease back and is tried again.
func (u *Updater) Rescores(ctx context.Context) error {
	every := u.cfg.RescoreEvery
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	last := u.cfg.Now().Truncate(every)
	tick := time.NewTicker(u.cfg.TimerInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		at := u.cfg.Now().Truncate(every)
		if !at.After(last) {
			continue
		}
		if _, err := u.Rescore(ctx, at); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			u.m.errors.WithLabelValues("rescore").Inc()
			u.log.Warn("rescore failed, trying again", zap.Time("boundary", at), zap.Error(err))
			continue
		}
		last = at
	}
}

// Rescore rescores the live namespace for boundary at, unless another
// updater of the group has, and tells whether it did. The timers due are
// applied first, so that the population is current when everyone is scored.
// The changes are caused by the rescore (their Cause.Due is at), so a
// rescore run again after a crash publishes them with the same ids.
func (u *Updater) Rescore(ctx context.Context, at time.Time) (bool, error) {
	store, err := u.storeFor(ctx)
	if err != nil {
		return false, err
	}
	lease := rescoreLeaseKey(store.Prefix(), at)
	taken, err := store.Redis().SetNX(ctx, lease, time.Now().UTC().Format(time.RFC3339), 2*max(u.cfg.RescoreEvery, time.Hour)).Result()
	if err != nil {
		return false, fmt.Errorf("take the rescore lease of %s: %w", store.Prefix(), err)
	}
	if !taken {
		return false, nil
	}
	start, changed := time.Now(), 0
	err = u.timers(ctx)
	if err == nil {
		T := u.cfg.Now()
		err = store.Rescore(ctx, T, profile.Cause{Due: at}, func(changes []profile.Change, moved []string) error {
			changed += len(changes)
			return u.publish(ctx, store, changes, moved)
		})
	}
	if err != nil {
		// Given back, so that the next try, here or in another updater,
		// takes it; the changes published so far are found published.
		if derr := store.Redis().Del(context.WithoutCancel(ctx), lease).Err(); derr != nil {
			u.log.Warn("give back the rescore lease", zap.Error(derr))
		}
		return false, err
	}
	u.m.rescoreChanges.Add(float64(changed))
	u.log.Info("rescored", zap.String("namespace", store.Prefix()), zap.Time("boundary", at),
		zap.Int("changes", changed), zap.Duration("took", time.Since(start)))
	return true, nil
}
