package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
)

// eraseCustomerScript deletes one customer's keys and returns the profiles
// merged into it and the profile it was merged into, read before deleting.
// KEYS: the customer's keys (customerKeys, then the collector's identity
// link and links: keys.Link, keys.Links). ARGV: none.
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

// Erase removes customer, the profiles merged into them and the visitors
// the collector linked to them (merged or not yet) from the store:
// exactly the keys of theirs that the layout names (customerKeys, and the
// collector's identity link keys.Link), their population entries and
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
		linked, err := s.linkedVisitors(ctx, c)
		if err != nil {
			return out, err
		}
		todo = append(todo, linked...)
		res, err := eraseCustomerScript.Run(ctx, s.rdb, append(s.customerKeys(c), keys.Link(c), keys.Links(c))).Slice()
		if err != nil {
			return out, fmt.Errorf("erase profile keys: %w", err)
		}
		if len(res) == 3 {
			out.Keys += int(toInt(res[2]))
			todo = append(todo, strs(res[0])...)
			if into := fmt.Sprint(res[1]); into != "" && !seen[into] {
				if err := s.rdb.SRem(ctx, s.customerKeys(into)[keyMerged], c).Err(); err != nil {
					return out, fmt.Errorf("unlink merged profile: %w", err)
				}
			}
		}
	}
	// Their population entries went with their profiles; other processes'
	// populations learn it from the Gone summaries the caller publishes.
	s.Put(gone(out.Customers)...)
	pipe := s.rdb.Pipeline()
	for _, c := range out.Customers {
		pipe.ZRem(ctx, s.timerKey(c), c)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return out, fmt.Errorf("erase timers: %w", err)
	}
	return out, nil
}

// linkedVisitors returns the anonymous customers the collector linked to c
// and that are linked to c still (a later identify may have linked them to
// someone else): visitors whose profiles are c's, merged or not yet.
func (s *Store) linkedVisitors(ctx context.Context, c string) ([]string, error) {
	anons, err := s.rdb.SMembers(ctx, keys.Links(c)).Result()
	if err != nil || len(anons) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(anons))
	for i, a := range anons {
		cmds[i] = pipe.Get(ctx, keys.Link(a))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read identity links: %w", err)
	}
	var out []string
	for i, a := range anons {
		if cmds[i].Val() == c {
			out = append(out, a)
		}
	}
	return out, nil
}

// gone returns the Gone summaries of customers.
func gone(customers []string) []Summary {
	out := make([]Summary, len(customers))
	for i, c := range customers {
		out[i] = Summary{Customer: c, Gone: true}
	}
	return out
}

// Exists tells whether the store holds a profile of customer.
func (s *Store) Exists(ctx context.Context, customer string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.customerKeys(customer)[keyProfile]).Result()
	if err != nil {
		return false, fmt.Errorf("look up profile: %w", err)
	}
	return n > 0, nil
}
