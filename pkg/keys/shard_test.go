package keys_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/keys"
)

// slot is Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, mod 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestShardOfAMemberIsOneOfTheShards(t *testing.T) {
	all := map[string]bool{}
	for n := range keys.Shards {
		all[keys.ShardN("sf", "timers", n)] = true
	}
	if len(all) != keys.Shards {
		t.Fatalf("%d distinct shard keys, want %d", len(all), keys.Shards)
	}
	for _, id := range []string{"", "c1", "rfm", "{#timers.3}", "anon:x", strings.Repeat("z", 300)} {
		k := keys.Shard("sf", "timers", id)
		if !all[k] {
			t.Errorf("Shard(%q) = %q, not one of the shards", id, k)
		}
		if k != keys.Shard("sf", "timers", id) {
			t.Errorf("Shard(%q) is not stable", id)
		}
	}
}

// The shards of one record spread over the masters of a cluster whose slots
// are split evenly (as redis-cli --cluster create splits them): no master
// holds more than one shard beyond its share.
func TestShardsSpreadOverTheMastersOfACluster(t *testing.T) {
	for _, masters := range []int{3, 6, 12, 24} {
		per := make([]int, masters)
		for n := range keys.Shards {
			s := slot(keys.ShardN("sf", "timers", n))
			per[s*masters/16384]++
		}
		mean := float64(keys.Shards) / float64(masters)
		top := 0
		for _, c := range per {
			top = max(top, c)
		}
		t.Logf("%d masters: shards per master %v, max %.2fx the mean", masters, per, float64(top)/mean)
		if float64(top) > math.Ceil(mean)+1 {
			t.Errorf("%d masters: one holds %d shards, %.2fx the mean %.1f", masters, top, float64(top)/mean, mean)
		}
	}
}

func ExampleShard() {
	fmt.Println(keys.ShardN("sf", "timers", 0))
	// Output: sf:{#timers.0.24}
}
