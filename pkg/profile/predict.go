package profile

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/predict"
)

// Predictions. A customer's model inputs (purchase days, first and last,
// spend on repeat days) are computed from their order history at each
// evaluation: the record keeps no state of its own for them. With a model
// (Config.Models), an evaluation tags a repeat customer whose P(alive) is
// below Config.AtRisk with TagAtRisk and schedules their timer at the
// instant it falls there ([predict.BGNBD.AtRiskAt]), so the change is
// published at that instant; a purchase moves that instant, and one that
// lifts P(alive) back above the threshold removes the tag.
//
// A new model changes nobody at once. Store.Reschedule, run after each
// fit, sets the timer of every customer not at risk under it to their new
// at-risk instant (if earlier than the timer they have), and spreads the
// customers whose at_risk tag the model itself changes over the next
// spread (an hour by default) by a hash of their id; everyone is evaluated
// with the new model at their next event or timer anyway (a timer set by
// the previous model that finds the customer not yet at risk changes
// nothing and reschedules them). So no refit publishes a change for the
// whole population at once.

// TagAtRisk tags a customer with repeat purchases whose probability of being
// alive is below the store's threshold (Config.AtRisk).
const TagAtRisk = "at_risk"

// DefaultAtRisk is the default P(alive) threshold of TagAtRisk.
const DefaultAtRisk = 0.3

// Models gives the model the store predicts with (pkg/fitting.Current); ok
// is false while there is none.
type Models interface {
	Model() (m predict.Model, ok bool)
}

// Predicted is what the store's model says of a customer at T.
type Predicted struct {
	predict.Prediction // over predict.DefaultCLV: a year, discounted
	// Purchases90 is the expected number of purchases in the next 90 days.
	Purchases90 float64
	// NextOrder is when one more purchase is expected (E[Y] = 1), zero if
	// not within NextOrderHorizon.
	NextOrder time.Time
	// AtRisk is when P(alive) falls below the threshold if the customer
	// buys nothing more, zero if never.
	AtRisk time.Time
	// CLV in micros, rounded to the store currency's minor unit.
	CLVMicros money.Micros
}

// NextOrderHorizon bounds Predicted.NextOrder.
const NextOrderHorizon = 3 * 365 * 24 * time.Hour

// days returns the customer's purchase days from their orders up to T
// (refunds do not change them: a purchase day happened).
func (r *record) days(T int64) predict.Days {
	var d predict.Days
	for _, e := range r.history {
		if e.t > T {
			break
		}
		if strings.HasPrefix(e.id, "o:") {
			d.Add(time.UnixMilli(e.t), money.Micros(e.amt))
		}
	}
	return d
}

// model returns the store's model, if it has one.
func (s *Store) model() (predict.Model, bool) {
	if s.cfg.Models == nil {
		return predict.Model{}, false
	}
	return s.cfg.Models.Model()
}

// atRisk returns when the customer's P(alive) falls below the threshold
// under m, false if it never does.
func (s *Store) atRisk(m predict.Model, st *State, T time.Time) (time.Time, bool) {
	c, ok := st.days.Customer(T, m.Purchases.Unit)
	if !ok {
		return time.Time{}, false
	}
	return m.Purchases.AtRiskAt(st.days.First(), c, s.cfg.AtRisk)
}

// tagAtRisk adds TagAtRisk to the tags (sorted) if the customer is at risk
// at T.
func (s *Store) tagAtRisk(st *State, tags []string, T time.Time) []string {
	m, ok := s.model()
	if !ok {
		return tags
	}
	if at, ok := s.atRisk(m, st, T); ok && !T.Before(at) {
		if i, found := slices.BinarySearch(tags, TagAtRisk); !found {
			tags = slices.Insert(slices.Clip(tags), i, TagAtRisk)
		}
	}
	return tags
}

// nextAtRisk returns when the customer becomes at risk, if that is after T.
func (s *Store) nextAtRisk(st *State, T time.Time) (time.Time, bool) {
	m, ok := s.model()
	if !ok {
		return time.Time{}, false
	}
	at, ok := s.atRisk(m, st, T)
	return at, ok && at.After(T)
}

// predicted returns the model's predictions for the customer at T, and
// false without a model or purchases.
func (s *Store) predicted(st *State, T time.Time) (*Predicted, bool) {
	m, ok := s.model()
	if !ok {
		return nil, false
	}
	unit := m.Purchases.Unit
	if unit <= 0 {
		unit = predict.Week
	}
	c, ok := st.days.Customer(T, unit)
	if !ok {
		return nil, false
	}
	p := &Predicted{
		Prediction:  m.Predict(c, predict.DefaultCLV),
		Purchases90: m.Purchases.ConditionalPurchases(c, float64(90*24*time.Hour)/float64(unit)),
	}
	if t, ok := m.Purchases.NextPurchase(c, float64(NextOrderHorizon)/float64(unit)); ok {
		p.NextOrder = T.Add(time.Duration(t * float64(unit))).Truncate(time.Second)
	}
	if at, ok := m.Purchases.AtRiskAt(st.days.First(), c, s.cfg.AtRisk); ok {
		p.AtRisk = at
	}
	p.CLVMicros = CLVMicros(p.CLV, s.cfg.Currency)
	return p, true
}

// CLVMicros is a predicted CLV in major units as the profile reports it
// (Predicted.CLVMicros): in micros, rounded to currency's minor unit; 0
// unless it is positive and below money.MaxSum.
func CLVMicros(clv float64, currency string) money.Micros {
	minor := math.Pow10(6 - money.Exponent(currency))
	if v := math.Round(clv*1e6/minor) * minor; v > 0 && v < float64(money.MaxSum) {
		return money.Micros(v)
	}
	return 0
}

// ModelInputs returns the model inputs of every customer with a purchase
// (not merged into another) as of T, in units of unit (zero means
// predict.Week): what the models are fitted on. It reads every profile.
func (s *Store) ModelInputs(ctx context.Context, T time.Time, unit time.Duration) ([]predict.Customer, error) {
	var out []predict.Customer
	err := s.Customers(ctx, func(customers []string) error {
		recs, errs, err := s.fetchEach(ctx, customers)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if errs[i] != nil || !r.stored || r.mergedInto != "" {
				continue // a key Redis refuses to read; a merged profile
			}
			d := r.days(T.UnixMilli())
			if c, ok := d.Customer(T, unit); ok {
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the model inputs of %s: %w", s.cfg.Prefix, err)
	}
	return out, nil
}

// Reschedule brings the at-risk timers in line with m, a model just fitted,
// as of T, in one pass over the profiles: a customer not at risk under m
// gets a timer at their at-risk instant, unless one is due earlier; one whose
// at_risk tag m would change (at risk now and untagged, or tagged and no
// longer at risk) gets a timer spread over (T, T+spread] by a hash of their
// id, so that the changes a refit brings are published over spread rather
// than all at once. Everyone else keeps their timer: a customer is
// evaluated with the new model at their next event or timer anyway.
func (s *Store) Reschedule(ctx context.Context, m predict.Model, T time.Time, spread time.Duration) (int, error) {
	n := 0
	err := s.Customers(ctx, func(customers []string) error {
		recs, errs, err := s.fetchEach(ctx, customers)
		if err != nil {
			return err
		}
		pipe := s.rdb.Pipeline()
		for i, r := range recs {
			if errs[i] != nil || !r.stored || r.mergedInto != "" {
				continue
			}
			d := r.days(T.UnixMilli())
			c, ok := d.Customer(T, m.Purchases.Unit)
			if !ok {
				continue
			}
			at, ok := m.Purchases.AtRiskAt(d.First(), c, s.cfg.AtRisk)
			risky := ok && !T.Before(at)
			tagged := r.published != nil && slices.Contains(r.published.Tags, TagAtRisk)
			var due time.Time
			switch {
			case risky != tagged:
				h := fnv.New64a()
				h.Write([]byte(customers[i]))
				due = T.Add(time.Millisecond + time.Duration(h.Sum64()%uint64(max(spread, time.Millisecond))))
			case ok && !risky:
				due = at
			default:
				continue
			}
			s.soonest.scheduled(customers[i], due.UnixMilli())
			pipe.ZAddLT(ctx, s.timerKey(customers[i]), redis.Z{Score: float64(due.UnixMilli()), Member: customers[i]})
			n++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("schedule the at-risk timers: %w", err)
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("reschedule %s for model %s: %w", s.cfg.Prefix, m.Version(), err)
	}
	return n, nil
}
