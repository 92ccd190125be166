package points

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultValidity is how long a credit is valid when its action says not.
const DefaultValidity = 365 * 24 * time.Hour

// Outcome is what became of a spend.
type Outcome string

// Outcomes of a spend.
const (
	Spent   Outcome = "spent"
	Refused Outcome = "refused" // more than the balance at the order's time
)

// Store is the ledgers in Redis. It is safe for concurrent use.
type Store struct{ rdb redis.UniversalClient }

// NewStore returns the ledgers in rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Credit credits customer with points, issued at at and valid until
// expires, once per decision id.
func (s *Store) Credit(ctx context.Context, customer, id string, points int64, at, expires time.Time) error {
	if points <= 0 {
		return fmt.Errorf("credit %d points: not a positive number", points)
	}
	v := fmt.Sprintf("%d|%d|%d", points, expires.UnixMilli(), at.UnixMilli())
	if err := s.rdb.HSetNX(ctx, creditsKey(customer), id, v).Err(); err != nil {
		return fmt.Errorf("credit points: %w", err)
	}
	return nil
}

// Spend spends points of customer's for order at at, once per order: what
// it returns the first time, it returns again.
func (s *Store) Spend(ctx context.Context, customer, order string, points int64, at time.Time) (Outcome, error) {
	if points <= 0 {
		return "", fmt.Errorf("spend %d points: not a positive number", points)
	}
	got, err := spendScript.Run(ctx, s.rdb, []string{creditsKey(customer), spendsKey(customer)}, order, points, at.UnixMilli()).Text()
	if err != nil {
		return "", fmt.Errorf("spend points of order %s: %w", order, err)
	}
	if got == string(Refused) {
		return Refused, nil
	}
	return Spent, nil
}

// Balance is a customer's points at a time.
type Balance struct {
	Points int64 `json:"points"`
	// Expiring is how many of them expire first, at NextExpiry.
	Expiring   int64     `json:"expiring,omitempty"`
	NextExpiry time.Time `json:"next_expiry,omitzero"`
}

// Balance returns customer's balance at at.
func (s *Store) Balance(ctx context.Context, customer string, at time.Time) (Balance, error) {
	h, err := s.rdb.HGetAll(ctx, creditsKey(customer)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Balance{}, fmt.Errorf("read points: %w", err)
	}
	var b Balance
	now := at.UnixMilli()
	for _, v := range h {
		left, expires, issued, ok := parseCredit(v)
		if !ok || left <= 0 || expires <= now || issued > now {
			continue
		}
		b.Points += left
		switch next := b.NextExpiry.UnixMilli(); {
		case b.NextExpiry.IsZero() || expires < next:
			b.NextExpiry, b.Expiring = time.UnixMilli(expires).UTC(), left
		case expires == next:
			b.Expiring += left
		}
	}
	return b, nil
}

func parseCredit(v string) (left, expires, issued int64, ok bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var err [3]error
	left, err[0] = strconv.ParseInt(parts[0], 10, 64)
	expires, err[1] = strconv.ParseInt(parts[1], 10, 64)
	issued, err[2] = strconv.ParseInt(parts[2], 10, 64)
	return left, expires, issued, err[0] == nil && err[1] == nil && err[2] == nil
}

// spendScript spends points for an order once: from the credits issued by
// the order's time and not expired at it, those that expire first first,
// or none if they hold fewer than asked.
//
// KEYS[1] -> pt:{c}:credits, KEYS[2] -> pt:{c}:spends.
// ARGV[1] -> order id, ARGV[2] -> points, ARGV[3] -> the order's time (ms).
var spendScript = redis.NewScript(`
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev then
  if prev == 'refused' then return 'refused' end
  return 'spent'
end
local want, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local usable, total = {}, 0
for i = 1, #all, 2 do
  local left, expires, issued = string.match(all[i + 1], '^(%d+)|(%d+)|(%d+)$')
  left, expires, issued = tonumber(left), tonumber(expires), tonumber(issued)
  if left and left > 0 and expires > now and issued <= now then
    usable[#usable + 1] = {id = all[i], left = left, expires = expires, issued = issued}
    total = total + left
  end
end
if total < want then
  redis.call('HSET', KEYS[2], ARGV[1], 'refused')
  return 'refused'
end
table.sort(usable, function(a, b)
  if a.expires ~= b.expires then return a.expires < b.expires end
  return a.id < b.id
end)
for _, c in ipairs(usable) do
  if want == 0 then break end
  local take = math.min(c.left, want)
  want = want - take
  redis.call('HSET', KEYS[1], c.id, string.format('%.0f|%.0f|%.0f', c.left - take, c.expires, c.issued))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'spent'
`)
