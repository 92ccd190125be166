package coupon

import (
	"hash/fnv"
	"strconv"

	"github.com/segflow/segflow/pkg/keys"
)

// Every key of the coupons, under the prefix "cp". Codes are many customers'
// entries, so they are spread by code over Shards slots; a pool over
// PoolShards slots. Names from outside (codes, coupons, campaigns, variants)
// are encoded with keys.Tag.
const prefix = "cp"

// Shards is the number of slots codes and their counts are spread over;
// PoolShards the number a pool is spread over.
const (
	Shards     = 64
	PoolShards = 16
)

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// shardOf returns the shard of a (normalized) code.
func shardOf(code string) int { return int(hash(code) % Shards) }

func shardKey(n int) string { return keys.Shared(prefix, "codes:"+strconv.Itoa(n)) }

// codeKey holds a code's record (a hash, see store.go).
func codeKey(code string) string { return shardKey(shardOf(code)) + ":code:" + keys.Tag(code) }

// statsKey holds the counts of a campaign's codes in shard n.
func statsKey(n int, campaign string) string { return shardKey(n) + ":stats:" + keys.Tag(campaign) }

func poolKey(coupon string, n int) string {
	return keys.Shared(prefix, "pool:"+keys.Tag(coupon)+":"+strconv.Itoa(n))
}

// freeKey holds the codes of a pool shard not issued yet; allKey every code
// ever loaded into it; takenKey the code taken by each decision id.
func freeKey(coupon string, n int) string  { return poolKey(coupon, n) + ":free" }
func allKey(coupon string, n int) string   { return poolKey(coupon, n) + ":all" }
func takenKey(coupon string, n int) string { return poolKey(coupon, n) + ":taken" }
