package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/segflow/segflow/pkg/population"
)

// The population. A customer is scored against every customer's entry as of
// their last evaluation (population.Entry). Each evaluation records the
// customer's entry in the store's population in memory (a population.Set,
// loaded from Redis on first use) and in the customer's own record, where a
// restart loads it from: no Redis key holds entries of
// many customers, and scoring asks Redis nothing. Other writers' evaluations
// reach the population through the summaries they publish (Put, fed by
// pkg/view's Follower).

// Population is what customers are scored against at T: a store's own
// population (Store.Population) or a read replica's view of the same
// namespace (pkg/view).
type Population interface {
	Scorer(T time.Time) population.Scorer
}

// Population returns the store's population, loading it from the customers'
// recorded entries the first time (a scan of every profile: about 8 s at 1M
// customers, BenchmarkLoad in pkg/view measures the same reads).
func (s *Store) Population(ctx context.Context) (*population.Set, error) {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	if s.pop != nil {
		return s.pop, nil
	}
	pop := population.New()
	err := s.Customers(ctx, func(customers []string) error {
		recs, errs, err := s.fetchEach(ctx, customers)
		if err != nil {
			return err
		}
		for i, r := range recs {
			// A key Redis refuses to read is skipped: its events are
			// dead-lettered.
			if errs[i] == nil && r.entry != nil && r.mergedInto == "" {
				pop.Put(customers[i], *r.entry)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load the population of %s: %w", s.cfg.Prefix, err)
	}
	s.pop = pop
	return pop, nil
}

// Put records summaries of customers published by other writers (others'
// evaluations, erasures) in the store's population, if it is loaded; a
// summary older than the entry held changes nothing.
func (s *Store) Put(sums ...Summary) {
	s.popMu.Lock()
	pop := s.pop
	s.popMu.Unlock()
	if pop == nil {
		return // loaded later, from Redis, which has them
	}
	for _, sum := range sums {
		if sum.Gone {
			pop.Remove(sum.Customer)
			continue
		}
		pop.Put(sum.Customer, population.Entry{
			Version: sum.Version, At: sum.At.UnixMilli(), F: sum.F, M: sum.M, Last: sum.Last.UnixMilli(),
		})
	}
}
