// Package privacy records erased customers so that nothing the pipeline does
// later — a replay, a backfill, a late event — brings them back.
//
// The record holds no personal data: a customer is kept as the SHA-256 of
// their id, with the time of the erasure. Events of an erased customer whose
// event time is not after the erasure are dropped by every writer of profile
// state. The record lives outside any profile namespace, so a rebuild into a
// fresh namespace sees it too.
package privacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
)

// The record is a Redis hash of erasures, SHA-256 of the customer id (hex)
// -> erasure time in Unix milliseconds, split by the hash into the shards of
// [keys.Shard] so that on a cluster no master holds all of it:
// privacy:{#erased.<n>.<k>}.
const (
	prefix = "privacy"
	record = "erased"
)

// key is the shard of the record that holds the customer whose Hash is h.
func key(h string) string { return keys.Shard(prefix, record, h) }

// IsRecordKey tells whether k is a shard of the erasure record.
func IsRecordKey(k string) bool {
	name, ok := keys.SharedOf(prefix, k)
	return ok && strings.HasPrefix(name, record+".")
}

// Registry reads and writes the erasure record.
type Registry struct {
	rdb redis.UniversalClient
}

// New returns the registry kept in rdb.
func New(rdb redis.UniversalClient) *Registry { return &Registry{rdb: rdb} }

// Hash is how a customer id is kept in the record.
func Hash(customer string) string {
	h := sha256.Sum256([]byte(customer))
	return hex.EncodeToString(h[:])
}

// Record records that customer was erased at at. Recording again keeps the
// latest time.
func (r *Registry) Record(ctx context.Context, customer string, at time.Time) error {
	h := Hash(customer)
	err := recordScript.Run(ctx, r.rdb, []string{key(h)}, h, at.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("record erasure: %w", err)
	}
	return nil
}

var recordScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0`)

// Erased returns, for those of customers who were erased, when.
func (r *Registry) Erased(ctx context.Context, customers []string) (map[string]time.Time, error) {
	if len(customers) == 0 {
		return nil, nil
	}
	hashes := make([]string, len(customers))
	for i, c := range customers {
		hashes[i] = Hash(c)
	}
	vals, err := keyspace.HMGet(ctx, r.rdb, hashes, key)
	if err != nil {
		return nil, fmt.Errorf("read erasures: %w", err)
	}
	var out map[string]time.Time
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read erasures: bad time %q", s)
		}
		if out == nil {
			out = make(map[string]time.Time)
		}
		out[customers[i]] = time.UnixMilli(n).UTC()
	}
	return out, nil
}

// Dropped tells whether an event of customer at eventTime must be dropped
// given the erasures returned by Erased: it is not after the erasure.
func Dropped(erased map[string]time.Time, customer string, eventTime time.Time) bool {
	at, ok := erased[customer]
	return ok && !eventTime.After(at)
}
