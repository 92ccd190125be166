package profile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/population"
)

// The population. A customer is scored against every customer's entry as of
// their last evaluation (population.Entry). Each evaluation records the
// customer's entry in the store's population in memory (a population.Set,
// loaded from Redis on first use) and in the customer's own profile hash
// (field "pe"), where a restart loads it from: no Redis key holds entries of
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
		entries := make([]*redis.SliceCmd, len(customers))
		_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for i, c := range customers {
				entries[i] = pipe.HMGet(ctx, s.customerKeys(c)[keyProfile], fieldEntry, "merged_into")
			}
			return nil
		})
		var refused redis.Error
		if err != nil && !errors.As(err, &refused) {
			return err
		}
		for i, c := range customers {
			v := entries[i].Val()
			if entries[i].Err() != nil || len(v) != 2 || v[1] != nil && v[1] != "" {
				continue // keys of another type, or merged into another profile
			}
			raw, _ := v[0].(string)
			if e, ok := parseEntry(raw); ok {
				pop.Put(c, e)
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

// entryOf is the population entry of st evaluated at T.
func entryOf(st *State, T time.Time) population.Entry {
	return population.Entry{Version: st.Version, At: T.UnixMilli(), F: st.Values.F, M: st.Values.M, Last: st.Last.UnixMilli()}
}

func formatEntry(e population.Entry) string {
	return fmt.Sprintf("%d|%d|%d|%d|%d", e.Version, e.At, e.F, e.M, e.Last)
}

func parseEntry(s string) (population.Entry, bool) {
	f := strings.Split(s, "|")
	if len(f) != 5 {
		return population.Entry{}, false
	}
	var n [5]int64
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return population.Entry{}, false
		}
		n[i] = v
	}
	return population.Entry{Version: n[0], At: n[1], F: int(n[2]), M: n[3], Last: n[4]}, true
}

// entryScript records a customer's population entry in their profile hash,
// unless the one recorded is newer (a concurrent evaluation of a later
// version) or the profile is gone (erased meanwhile).
// KEYS: 1 profile hash. ARGV: 1 version, 2 T, 3 the entry.
var entryScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local prev = redis.call('HGET', KEYS[1], 'pe')
if prev then
  local pv, pt = string.match(prev, '^(%d+)|(%d+)|')
  pv, pt = tonumber(pv), tonumber(pt)
  local ver, T = tonumber(ARGV[1]), tonumber(ARGV[2])
  if pv > ver or (pv == ver and pt >= T) then return 0 end
end
redis.call('HSET', KEYS[1], 'pe', ARGV[3])
return 1
`)
