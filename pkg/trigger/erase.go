package trigger

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/points"
)

// Erase removes a customer's trigger state: exactly the keys of theirs that
// the layout names (keys.go: waits, journey positions, decisions, sends, the sends of each
// campaign in their last-send hash, exposures, conversions, habits, views; and their points ledger)
// and the timers of their waits in their shard of the timers (dueKey). Campaign statistics and
// budget slots hold counts and hashed decision ids only, and stay. It
// returns how many keys and timers it removed.
//
// A timer whose wait was already gone (a crash between the two writes of a
// cancel) is not found here; it holds no state, and the service drops it
// when it falls due.
func Erase(ctx context.Context, rdb redis.UniversalClient, customer string) (int, error) {
	pipe := rdb.Pipeline()
	waits := pipe.HKeys(ctx, pendingKey(customer))
	sent := pipe.HKeys(ctx, lastKey(customer))
	journeys := pipe.HKeys(ctx, journeysKey(customer))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("read trigger state to erase: %w", err)
	}
	del := append(fixedKeys(customer), points.Keys(customer)...)
	for _, campaign := range sent.Val() {
		del = append(del, campaignSentKey(customer, campaign))
	}
	timers := make([]any, len(waits.Val()))
	for i, campaign := range waits.Val() {
		timers[i] = member(campaign, customer)
	}
	for _, name := range journeys.Val() {
		timers = append(timers, member(journeyTimer+name, customer))
	}
	pipe = rdb.Pipeline()
	deleted := pipe.Del(ctx, del...)
	var removed *redis.IntCmd
	if len(timers) > 0 {
		removed = pipe.ZRem(ctx, dueKey(customer), timers...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("erase trigger state: %w", err)
	}
	n := int(deleted.Val())
	if removed != nil {
		n += int(removed.Val())
	}
	return n, nil
}
