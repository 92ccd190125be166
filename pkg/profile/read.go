package profile

import (
	"context"
	"strings"
	"time"
)

// Readers of many profiles at once, for reporting: per-customer figures read
// in one pipeline.

// OrdersBetween returns how many orders each customer placed in [from, to).
func (s *Store) OrdersBetween(ctx context.Context, customers []string, from, to time.Time) ([]int, error) {
	recs, err := s.fetch(ctx, customers)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(customers))
	for i, r := range recs {
		for _, e := range r.history {
			if strings.HasPrefix(e.id, "o:") && e.t >= from.UnixMilli() && e.t < to.UnixMilli() {
				out[i]++
			}
		}
	}
	return out, nil
}
