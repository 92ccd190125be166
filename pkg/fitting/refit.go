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
		if err := r.refit(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("refit", zap.Error(err))
		}
	}
}

func (r *Refitter) refit(ctx context.Context) error {
	store, err := r.Store(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	m, err := Refit(ctx, r.Redis, store, r.Now(), r.Unit)
	if err != nil {
		return err
	}
	if r.Current != nil {
		r.Current.set(m)
	}
	r.Log.Info("refit", zap.String("namespace", store.Prefix()), zap.String("model", m.Version()),
		zap.Int("customers", m.Purchases.Customers), zap.Float64("log_likelihood", m.Purchases.LogLikelihood),
		zap.Duration("took", time.Since(start)))
	return nil
}
