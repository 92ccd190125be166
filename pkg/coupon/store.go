package coupon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/money"
)

// Retention is how long a code's record is kept after the code's validity
// (counted from when it is reserved, on Redis's clock), so that a late order
// with it is refused as expired rather than ignored.
const Retention = 90 * 24 * time.Hour

// Unavailable says why a decision could get no code.
type Unavailable string

// Reasons for no code.
const (
	// Exhausted: the pool has no code left.
	Exhausted Unavailable = "exhausted"
	// Ended: the coupon's fixed end has passed.
	Ended Unavailable = "ended"
	// Taken: the code is another decision's (a code in two pools, or a
	// generated one that collides).
	Taken Unavailable = "taken"
)

// Reason is why an order's code was refused.
type Reason string

// Reasons for refusal.
const (
	Foreign Reason = "foreign" // issued to another customer
	Used    Reason = "used"    // redeemed by another order
	Expired Reason = "expired" // the order came after the code's expiry
)

// Reasons lists every Reason.
var Reasons = []Reason{Foreign, Used, Expired}

// Store keeps codes, pools and their counts in Redis (see the package
// documentation). It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient

	mu     sync.Mutex
	loaded map[string]bool // pools loaded by this process (Definition.loaded)
}

// NewStore returns a store in rdb.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, loaded: map[string]bool{}}
}

// Decision is what a code is reserved for.
type Decision struct {
	ID       string // the decision id
	Campaign string
	Variant  string
	Customer string
	Tier     string    // the customer's, which the value may depend on
	At       time.Time // when it is decided
}

// owner is how a code's record names its customer: a hash, so that the
// records, shared by many customers, hold no customer id.
func owner(customer string) string {
	h := sha256.Sum256([]byte(customer))
	return hex.EncodeToString(h[:16])
}

// Reserve takes a code of coupon d for a decision, before it is made: the
// same code, with the same expiry, for the same decision every time. It
// returns what the decision's trigger carries, or no code and why.
func (s *Store) Reserve(ctx context.Context, d *Definition, dec Decision) (Issued, Unavailable, error) {
	expires := d.Expires(dec.At)
	if !expires.After(dec.At) {
		return Issued{}, Ended, nil
	}
	code := d.Generated(dec.Customer, dec.ID)
	if code == "" {
		var err error
		if code, err = s.take(ctx, d, dec.ID); err != nil || code == "" {
			return Issued{}, Exhausted, err
		}
	}
	ms, err := reserveScript.Run(ctx, s.rdb, []string{codeKey(code)}, dec.ID, dec.Campaign, dec.Variant,
		owner(dec.Customer), expires.UnixMilli(), (expires.Sub(dec.At) + Retention).Milliseconds()).Int64()
	if errors.Is(err, redis.Nil) {
		return Issued{}, Taken, nil
	}
	if err != nil {
		return Issued{}, "", fmt.Errorf("reserve a code of coupon %s: %w", d.Name, err)
	}
	is := d.Issue(code, dec.Tier, dec.At)
	is.Expires = time.UnixMilli(ms).UTC()
	return is, "", nil
}

// take takes a pool code for a decision, from the shards in an order that
// depends on the decision only, so that a redelivery finds the code it took.
func (s *Store) take(ctx context.Context, d *Definition, decision string) (string, error) {
	if err := s.load(ctx, d); err != nil {
		return "", err
	}
	first := int(hash(decision) % PoolShards)
	for i := range PoolShards {
		n := (first + i) % PoolShards
		code, err := takeScript.Run(ctx, s.rdb, []string{freeKey(d.Name, n), takenKey(d.Name, n)}, decision).Text()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("take a code of coupon %s: %w", d.Name, err)
		}
		return code, nil
	}
	return "", nil
}

// load loads d's pool into Redis once per process and version of its file
// (a reload of the campaigns does not load an unchanged pool again);
// loading adds only codes never loaded before.
func (s *Store) load(ctx context.Context, d *Definition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded[d.loaded] {
		return nil
	}
	shards := make([][]any, PoolShards)
	for _, c := range d.codes {
		n := poolShard(c)
		shards[n] = append(shards[n], c)
	}
	const batch = 1000
	pipe := s.rdb.Pipeline()
	for n, codes := range shards {
		for i := 0; i < len(codes); i += batch {
			loadScript.Eval(ctx, pipe, []string{allKey(d.Name, n), freeKey(d.Name, n)}, codes[i:min(i+batch, len(codes))]...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("load the pool of coupon %s: %w", d.Name, err)
	}
	s.loaded[d.loaded] = true
	return nil
}

// poolShard returns the pool shard a code is loaded into.
func poolShard(code string) int { return int(hash(code) % PoolShards) }

// Confirm issues a decision's reserved code at T and counts it issued; doing
// it again changes nothing.
func (s *Store) Confirm(ctx context.Context, code string, dec Decision) error {
	err := confirmScript.Run(ctx, s.rdb, []string{codeKey(code), statsKey(shardOf(code), dec.Campaign)}, dec.ID, dec.At.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("issue a code for %s: %w", dec.Campaign, err)
	}
	return nil
}

// Release gives back a decision's reserved code when the decision is not a
// send: a pool code goes back to the pool. An issued code stays issued.
func (s *Store) Release(ctx context.Context, d *Definition, code, decision string) error {
	free, err := dropScript.Run(ctx, s.rdb, []string{codeKey(code)}, decision).Int()
	if err != nil {
		return fmt.Errorf("release a code of coupon %s: %w", d.Name, err)
	}
	if free == 0 || d.Generate != nil {
		return nil
	}
	n := poolShard(code)
	if err := putBackScript.Run(ctx, s.rdb, []string{freeKey(d.Name, n), takenKey(d.Name, n)}, decision).Err(); err != nil {
		return fmt.Errorf("put a code of coupon %s back: %w", d.Name, err)
	}
	return nil
}

// Order is an order that carries a code.
type Order struct {
	ID       string
	Customer string
	Code     string
	At       time.Time
	Revenue  money.Micros // the order's total
}

// Redemption is what an order did with its code.
type Redemption struct {
	// Campaign issued the code; "" for a code that was never issued, which
	// the order leaves as it is (a shop's own promotion code).
	Campaign string
	// Redeemed, or Refused for a reason.
	Redeemed bool
	Refused  Reason
	// Again: the order was seen before, and changed nothing this time.
	Again bool
}

// Redeem applies an order that carries a code (see redeemScript).
func (s *Store) Redeem(ctx context.Context, o Order) (Redemption, error) {
	code := Normalize(o.Code)
	if code == "" || len(code) > MaxCodeLength {
		return Redemption{}, nil
	}
	key := codeKey(code)
	rec, err := s.rdb.HMGet(ctx, key, "campaign", "issued").Result()
	if err != nil {
		return Redemption{}, fmt.Errorf("read a code's record: %w", err)
	}
	campaign, _ := rec[0].(string)
	issuedS, _ := rec[1].(string)
	issued, err := strconv.ParseInt(issuedS, 10, 64)
	if campaign == "" || err != nil {
		return Redemption{}, nil
	}
	hi, lo := money.Limbs(o.Revenue)
	b := bucket(o.At.Sub(time.UnixMilli(issued)))
	got, err := redeemScript.Run(ctx, s.rdb, []string{key, statsKey(shardOf(code), campaign)}, o.ID, owner(o.Customer),
		o.At.UnixMilli(), lo, hi, campaign, issuedS, b).Text()
	if err != nil {
		return Redemption{}, fmt.Errorf("redeem a code of %s: %w", campaign, err)
	}
	r := Redemption{Campaign: campaign}
	got, r.Again = strings.CutSuffix(got, "|again")
	switch {
	case got == "redeemed":
		r.Redeemed = true
	case strings.HasPrefix(got, "refused:"):
		r.Refused = Reason(strings.TrimPrefix(got, "refused:"))
	default:
		return Redemption{}, nil
	}
	return r, nil
}

// Result is a campaign's coupons for one variant.
type Result struct {
	Issued   int64
	Redeemed int64
	Refused  map[Reason]int64
	// Revenue is the sum of the totals of the redeeming orders.
	Revenue money.Sum
	ttr     map[int]int64 // time-to-redeem buckets
}

// Rate is the share of issued codes redeemed.
func (r Result) Rate() float64 {
	if r.Issued == 0 {
		return 0
	}
	return float64(r.Redeemed) / float64(r.Issued)
}

// MedianToRedeem is the lower median of the times from issue to
// redemption, within RelativeAccuracy; 0 for none.
func (r Result) MedianToRedeem() time.Duration { return median(r.ttr) }

// Plus returns the results of r and o together.
func (r Result) Plus(o Result) Result {
	out := Result{Issued: r.Issued + o.Issued, Redeemed: r.Redeemed + o.Redeemed, Revenue: r.Revenue.Plus(o.Revenue),
		Refused: map[Reason]int64{}, ttr: map[int]int64{}}
	for _, x := range []Result{r, o} {
		for k, v := range x.Refused {
			out.Refused[k] += v
		}
		for k, v := range x.ttr {
			out.ttr[k] += v
		}
	}
	return out
}

// Results returns a campaign's coupon results by variant; none for a
// campaign that issued no code.
func (s *Store) Results(ctx context.Context, campaign string) (map[string]Result, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, Shards)
	for n := range Shards {
		cmds[n] = pipe.HGetAll(ctx, statsKey(n, campaign))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read the coupon results of %s: %w", campaign, err)
	}
	out := map[string]Result{}
	for _, cmd := range cmds {
		for k, v := range cmd.Val() {
			i := strings.LastIndexByte(k, '|')
			if i < 0 {
				continue
			}
			variant, field := k[:i], k[i+1:]
			n, _ := strconv.ParseInt(v, 10, 64)
			r, ok := out[variant]
			if !ok {
				r = Result{Refused: map[Reason]int64{}, ttr: map[int]int64{}}
			}
			switch {
			case field == "issued":
				r.Issued += n
			case field == "redeemed":
				r.Redeemed += n
			case field == "revenue":
				r.Revenue = r.Revenue.Add(money.Micros(n))
			case field == "revenue_hi":
				r.Revenue = r.Revenue.Plus(money.JoinLimbs(n, 0))
			case strings.HasPrefix(field, "refused:"):
				r.Refused[Reason(strings.TrimPrefix(field, "refused:"))] += n
			case strings.HasPrefix(field, "ttr:"):
				b, err := strconv.Atoi(strings.TrimPrefix(field, "ttr:"))
				if err == nil {
					r.ttr[b] += n
				}
			}
			out[variant] = r
		}
	}
	return out, nil
}
