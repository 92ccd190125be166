package profile

import "github.com/segflow/segflow/pkg/keys"

// Every key of the store, under its prefix (see the layout in doc.go).

// Suffixes of a customer's keys, in the order customerKeys returns them;
// the scripts take them in that order.
var customerSuffixes = []string{"p", "h", "amt", "vs", "vc", "b", "cart", "merged"}

// Indexes into customerKeys.
const (
	keyProfile = 0
	keyHistory = 1
	keyMerged  = 7
)

func (s *Store) customerKeys(c string) []string {
	b := keys.Customer(s.cfg.Prefix, c)
	out := make([]string, len(customerSuffixes))
	for i, suffix := range customerSuffixes {
		out[i] = b + suffix
	}
	return out
}

// The field of a customer's profile hash that holds their population entry,
// "<version>|<T>|<F>|<M>|<last>" (see Population).
const fieldEntry = "pe"

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
