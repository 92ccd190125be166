package trigger

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Erase removes a customer's trigger state: every tr:{c}:* key (waits,
// decisions, sends, exposures, conversions, habits, views) and their timers
// in tr:{timers}:due. Campaign statistics and budget slots hold counts and
// hashed decision ids only, and stay. It returns how many keys and timers it
// removed.
func Erase(ctx context.Context, rdb redis.UniversalClient, customer string) (int, error) {
	n := 0
	iter := rdb.Scan(ctx, 0, "tr:{"+globEscape(customer)+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
			return n, fmt.Errorf("erase trigger state: %w", err)
		}
		n++
	}
	if err := iter.Err(); err != nil {
		return n, fmt.Errorf("scan trigger state: %w", err)
	}
	timers := rdb.ZScan(ctx, dueKey, 0, "*\x00"+globEscape(customer), 1000).Iterator()
	var members []any
	for i := 0; timers.Next(ctx); i++ {
		if i%2 == 0 { // members and scores alternate
			members = append(members, timers.Val())
		}
	}
	if err := timers.Err(); err != nil {
		return n, fmt.Errorf("scan trigger timers: %w", err)
	}
	if len(members) > 0 {
		removed, err := rdb.ZRem(ctx, dueKey, members...).Result()
		if err != nil {
			return n, fmt.Errorf("erase trigger timers: %w", err)
		}
		n += int(removed)
	}
	return n, nil
}

// globEscape escapes the characters a Redis MATCH pattern treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
