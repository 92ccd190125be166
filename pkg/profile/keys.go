package profile

import "github.com/segflow/segflow/pkg/keys"

// Every key of the store, under its prefix (see the layout in doc.go).

// Suffixes of a customer's keys: one, the record (record.go).
var customerSuffixes = []string{"r"}

func (s *Store) recordKey(c string) string {
	return keys.Customer(s.cfg.Prefix, c) + customerSuffixes[0]
}

// Timers are sharded ([keys.Shard]): a customer's timer is in the shard of
// their id.
const recordTimers = "timers"

func (s *Store) timerKey(c string) string { return keys.Shard(s.cfg.Prefix, recordTimers, c) + ":due" }

// timerKeys are every shard of the timers.
func (s *Store) timerKeys() []string {
	out := make([]string, keys.Shards)
	for n := range out {
		out[n] = keys.ShardN(s.cfg.Prefix, recordTimers, n) + ":due"
	}
	return out
}

// LiveKey names the live namespace. Absent, the live namespace is the
// configured Prefix.
var LiveKey = keys.Shared("segflow", "namespace") + ":live"

// NamespacesKey is the Redis set of the namespaces built besides the
// configured one: a replay into a namespace adds it, dropping it removes it.
// Erasures erase in each (Namespaces).
var NamespacesKey = keys.Shared("segflow", "namespace") + ":all"
