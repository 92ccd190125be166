package profile

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// erasePopulationScript removes customers from the population indexes and
// forgets their recorded entry. The sums move by the removed values, as
// populationScript moves them, so the population is what it would be had the
// customer never been recorded.
//
// KEYS: as populationScript. ARGV: customers.
var erasePopulationScript = redis.NewScript(populationLua + `
local removed = 0
for i = 1, #ARGV do
  if leave(ARGV[i]) then removed = removed + 1 end
  redis.call('HDEL', at, ARGV[i])
end
return removed
`)

// eraseCustomerScript deletes one customer's keys and returns the profiles
// merged into it and the profile it was merged into, read before deleting.
// KEYS: the customer's keys (customerKeys, then the collector's identity
// link). ARGV: none.
var eraseCustomerScript = redis.NewScript(`
local merged = redis.call('SMEMBERS', KEYS[8])
local into = redis.call('HGET', KEYS[1], 'merged_into') or ''
return {merged, into, redis.call('DEL', unpack(KEYS))}
`)

// Erased is what an erasure removed.
type Erased struct {
	// Customers are the profiles erased: the customer and the anonymous
	// profiles merged into them.
	Customers []string
	// Keys is how many keys were deleted.
	Keys int
}

// Erase removes customer and the profiles merged into them from the store:
// every key of theirs under the store's prefix, their population entries and
// their timers. A profile the customer was merged into keeps its data (it is
// another identity) but forgets the link. Erasing twice is harmless. It does
// not record the erasure: the caller records it in pkg/privacy first, so that
// events arriving meanwhile are dropped.
func (s *Store) Erase(ctx context.Context, customer string) (Erased, error) {
	var out Erased
	todo := []string{customer}
	seen := map[string]bool{}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		out.Customers = append(out.Customers, c)
		res, err := eraseCustomerScript.Run(ctx, s.rdb, append(s.customerKeys(c), s.linkKey(c))).Slice()
		if err != nil {
			return out, fmt.Errorf("erase profile keys: %w", err)
		}
		if len(res) == 3 {
			out.Keys += int(toInt(res[2]))
			todo = append(todo, strs(res[0])...)
			if into := fmt.Sprint(res[1]); into != "" && !seen[into] {
				if err := s.rdb.SRem(ctx, s.customerKeys(into)[7], c).Err(); err != nil {
					return out, fmt.Errorf("unlink merged profile: %w", err)
				}
			}
		}
		// Keys of the customer's slot that the layout above does not name.
		n, err := deleteMatching(ctx, s.rdb, s.cfg.Prefix+":{"+globEscape(c)+"}:*")
		if err != nil {
			return out, err
		}
		out.Keys += n
	}
	args := make([]any, len(out.Customers))
	for i, c := range out.Customers {
		args[i] = c
	}
	if err := erasePopulationScript.Run(ctx, s.rdb, s.populationKeys(), args...).Err(); err != nil {
		return out, fmt.Errorf("erase population entries: %w", err)
	}
	if err := s.rdb.ZRem(ctx, s.timerKey(), args...).Err(); err != nil {
		return out, fmt.Errorf("erase timers: %w", err)
	}
	return out, nil
}

// linkKey is the collector's identity link of an anonymous customer id (see
// pkg/collector): always under the "sf" prefix, in the customer's slot.
func (s *Store) linkKey(c string) string { return "sf:{" + c + "}:link" }

// Exists tells whether the store holds a profile of customer.
func (s *Store) Exists(ctx context.Context, customer string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.customerKeys(customer)[0]).Result()
	if err != nil {
		return false, fmt.Errorf("look up profile: %w", err)
	}
	return n > 0, nil
}

// deleteMatching deletes the keys matching a SCAN pattern and returns how
// many there were.
func deleteMatching(ctx context.Context, rdb redis.UniversalClient, pattern string) (int, error) {
	n := 0
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
			return n, fmt.Errorf("erase key: %w", err)
		}
		n++
	}
	if err := iter.Err(); err != nil {
		return n, fmt.Errorf("scan keys to erase: %w", err)
	}
	return n, nil
}

// globEscape escapes the characters a Redis MATCH pattern treats specially,
// so that a customer id matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
