package profile

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
)

// eraseCustomerScript deletes one customer's keys and returns their record,
// read before deleting, and how many keys it deleted. KEYS: the record, the
// collector's identity link and links (keys.Link, keys.Links). ARGV: none.
var eraseCustomerScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1]) or ''
return {rec, redis.call('DEL', unpack(KEYS))}
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
		s.records.take(c)
		res, err := eraseCustomerScript.Run(ctx, s.rdb, []string{s.recordKey(c), keys.Link(c), keys.Links(c)}).Slice()
		if err != nil {
			return out, fmt.Errorf("erase profile keys: %w", err)
		}
		if len(res) != 2 {
			return out, fmt.Errorf("erase profile keys: %d results", len(res))
		}
		raw, _ := res[0].(string)
		n, _ := res[1].(int64)
		out.Keys += int(n)
		r, err := decodeRecordOf([]byte(raw), raw)
		if err != nil {
			return out, fmt.Errorf("erase a profile: %w", err)
		}
		todo = append(todo, r.merged...)
		if r.pend != (pendMark{}) { // a batch's outbox names them
			if err := s.rdb.HDel(ctx, s.outboxKey(r.pend), c).Err(); err != nil {
				return out, fmt.Errorf("erase a profile from an outbox: %w", err)
			}
		}
		if into := r.mergedInto; into != "" && !seen[into] {
			if err := s.unlink(ctx, into, c); err != nil {
				return out, err
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

// unlink removes c from the profiles merged into into.
func (s *Store) unlink(ctx context.Context, into, c string) error {
	_, err := retry(func(bool) (struct{}, error) {
		b := s.newBatch(1)
		if err := b.load(ctx, into); err != nil {
			return struct{}{}, err
		}
		r := b.recs[into]
		if i, ok := slices.BinarySearch(r.merged, c); ok && r.stored {
			r.merged = slices.Delete(r.merged, i, i+1)
			b.dirty[into] = true
		}
		return struct{}{}, b.write(ctx)
	})
	if err != nil {
		return fmt.Errorf("unlink merged profile: %w", err)
	}
	return nil
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
	n, err := s.rdb.Exists(ctx, s.recordKey(customer)).Result()
	if err != nil {
		return false, fmt.Errorf("look up profile: %w", err)
	}
	return n > 0, nil
}
