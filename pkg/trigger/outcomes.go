package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Outcomes returns the outcome published for each customer's decision of
// campaign name by cause (a broadcast's occurrence), or "" for a customer
// whose decision is not made or not published yet — one waiting for the end
// of the quiet hours.
func (e *Engine) Outcomes(ctx context.Context, name, cause string, customers []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(customers))
	pipe := e.rdb.Pipeline()
	for i, c := range customers {
		cmds[i] = pipe.HGet(ctx, decidedKey(c), decisionID(name, c, cause))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read outcomes of %s: %w", name, err)
	}
	out := make([]string, len(customers))
	for i, cmd := range cmds {
		out[i], _ = strings.CutSuffix(cmd.Val(), "|p")
		if out[i] == cmd.Val() {
			out[i] = "" // decided, not yet published
		}
	}
	return out, nil
}
