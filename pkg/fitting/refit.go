package fitting

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
)

// Fit fits both models on the customers of store as of at (the fit date),
// with times in units of unit (zero means predict.Week).
func Fit(ctx context.Context, store *profile.Store, at time.Time, unit time.Duration) (predict.Model, error) {
	cs, err := store.ModelInputs(ctx, at, unit)
	if err != nil {
		return predict.Model{}, err
	}
	f := predict.Fit{At: at, Unit: unit}
	purchases, err := predict.FitBGNBD(cs, f)
	if err != nil {
		return predict.Model{}, fmt.Errorf("namespace %s: %w", store.Prefix(), err)
	}
	spend, err := predict.FitGammaGamma(cs, f)
	if err != nil {
		return predict.Model{}, fmt.Errorf("namespace %s: %w", store.Prefix(), err)
	}
	return predict.NewModel(purchases, spend), nil
}

// Spread is how long the at_risk changes a refit itself brings are spread
// over (profile.Store.Reschedule).
const Spread = time.Hour

// Refit fits both models on store's customers as of at, stores them as its
// namespace's model, and reschedules the at-risk timers for it.
func Refit(ctx context.Context, rdb redis.UniversalClient, store *profile.Store, at time.Time, unit time.Duration) (predict.Model, error) {
	m, err := Fit(ctx, store, at, unit)
	if err != nil {
		return m, err
	}
	if err := Save(ctx, rdb, store.Prefix(), m); err != nil {
		return m, err
	}
	if _, err := store.Reschedule(ctx, m, at, Spread); err != nil {
		return m, err
	}
	return m, nil
}

// Refitter refits the live namespace's model periodically (in the
// profile-updater).
type Refitter struct {
	Redis redis.UniversalClient
	// Store returns the store of the live namespace.
	Store func(ctx context.Context) (*profile.Store, error)
	// Every is the interval between fits; zero or less turns refits off.
	Every time.Duration
	// Unit is the models' time unit; zero means predict.Week.
	Unit time.Duration
	// Now is the clock the fit date is read from (the pipeline's).
	Now func() time.Time
	// Current, if set, is given every new model at once.
	Current *Current
	Log     *zap.Logger
}

// Run refits every r.Every until ctx is done. A failed fit (too few
// customers yet) is logged and tried again at the next interval.
func (r *Refitter) Run(ctx context.Context) error {
	if r.Every <= 0 {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(r.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("refit", zap.Error(err))
		}
	}
}

// Once refits the live namespace's model now, unless another process of the
// group has refitted it in this interval, and tells whether it did. The
// first to take the interval's lease (nine tenths of Every) fits; a fit that
// fails keeps the lease, and is tried again at the next interval.
func (r *Refitter) Once(ctx context.Context) (bool, error) {
	store, err := r.Store(ctx)
	if err != nil {
		return false, err
	}
	ttl := max(r.Every*9/10, time.Second)
	taken, err := r.Redis.SetNX(ctx, refitLeaseKey(store.Prefix()), time.Now().UTC().Format(time.RFC3339), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take the refit lease of %s: %w", store.Prefix(), err)
	}
	if !taken {
		return false, nil
	}
	start := time.Now()
	m, err := Refit(ctx, r.Redis, store, r.Now(), r.Unit)
	if err != nil {
		return false, err
	}
	if r.Current != nil {
		r.Current.set(m)
	}
	r.Log.Info("refit", zap.String("namespace", store.Prefix()), zap.String("model", m.Version()),
		zap.Int("customers", m.Purchases.Customers), zap.Float64("log_likelihood", m.Purchases.LogLikelihood),
		zap.Duration("took", time.Since(start)))
	return true, nil
}
