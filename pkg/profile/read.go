package profile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/rfm"
)

// Readers of many profiles at once, for reporting: the population as it is
// recorded, and per-customer figures read in one pipeline.

// Buyer is a member of the population: a customer with F ≥ 1 at their last
// evaluation, with their RFM values as of T.
type Buyer struct {
	Customer string
	Values   rfm.Values
}

// Population returns the buyers recorded in the population indexes, their R
// taken at T and their F and M as last recorded: the values every profile is
// scored against. Scoring them with rfm.Compute gives each buyer the scores
// and segment Get gives them at T. It reads the indexes in one transaction,
// so the buyers are one consistent population.
func (s *Store) Population(ctx context.Context, T time.Time) ([]Buyer, error) {
	pk := s.populationKeys()
	var f, m, last *redis.ZSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		f = pipe.ZRangeWithScores(ctx, pk[0], 0, -1)
		m = pipe.ZRangeWithScores(ctx, pk[1], 0, -1)
		last = pipe.ZRangeWithScores(ctx, pk[2], 0, -1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read population: %w", err)
	}
	ms := make(map[string]int64, len(m.Val()))
	for _, z := range m.Val() {
		ms[z.Member.(string)] = int64(z.Score)
	}
	ls := make(map[string]int64, len(last.Val()))
	for _, z := range last.Val() {
		ls[z.Member.(string)] = int64(z.Score)
	}
	out := make([]Buyer, 0, len(f.Val()))
	for _, z := range f.Val() {
		c := z.Member.(string)
		R := int(max(T.UnixMilli()-ls[c], 0) / (24 * time.Hour).Milliseconds())
		out = append(out, Buyer{Customer: c, Values: rfm.Values{R: R, F: int(z.Score), M: ms[c]}})
	}
	return out, nil
}

// Lifetimes returns each customer's lifetime value in micros (orders minus
// refunds, ever, from 0 to money.MaxSum), 0 for a customer the store does
// not know.
func (s *Store) Lifetimes(ctx context.Context, customers []string) ([]int64, error) {
	cmds := make([]*redis.SliceCmd, len(customers))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range customers {
			cmds[i] = pipe.HMGet(ctx, s.customerKeys(c)[keyProfile], "ltvh", "ltv")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d lifetime values: %w", len(customers), err)
	}
	out := make([]int64, len(customers))
	for i, cmd := range cmds {
		v := cmd.Val()
		out[i] = int64(money.JoinLimbs(toInt(v[0]), toInt(v[1])).Cap())
	}
	return out, nil
}

// OrdersBetween returns how many orders each customer placed in [from, to).
func (s *Store) OrdersBetween(ctx context.Context, customers []string, from, to time.Time) ([]int, error) {
	cmds := make([]*redis.StringSliceCmd, len(customers))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range customers {
			cmds[i] = pipe.ZRangeByScore(ctx, s.customerKeys(c)[keyHistory], &redis.ZRangeBy{Min: ms(from), Max: "(" + ms(to)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d purchase histories: %w", len(customers), err)
	}
	out := make([]int, len(customers))
	for i, cmd := range cmds {
		for _, id := range cmd.Val() {
			if strings.HasPrefix(id, "o:") {
				out[i]++
			}
		}
	}
	return out, nil
}
