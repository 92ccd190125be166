package profile

import (
	"strconv"
	"strings"

	"github.com/segflow/segflow/pkg/keys"
)

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

// Writers are the ids batches take (pending.go): "writers" counts them,
// "writers:<id>" is a writer's watermark. A batch's outbox is in the shard of
// its number.
const (
	writersSlot = "writers"
	outboxSlot  = "outbox"
)

// IsBookkeeping tells whether key, under prefix, is of the writers'
// bookkeeping (their ids, watermarks and outboxes): of how the state was
// written, which two runs that end in the same state need not share, and
// holding no entry of a customer once their batches are committed.
func IsBookkeeping(prefix, key string) bool {
	name, ok := keys.SharedOf(prefix, key)
	return ok && (name == writersSlot || strings.HasPrefix(name, outboxSlot+"."))
}

func (s *Store) writersKey() string { return keys.Shared(s.cfg.Prefix, writersSlot) }

func (s *Store) watermarkKey(w uint64) string {
	return s.writersKey() + ":" + strconv.FormatUint(w, 10)
}

func (s *Store) outboxKey(m pendMark) string {
	return keys.ShardN(s.cfg.Prefix, outboxSlot, int(m.seq%keys.Shards)) + ":" + strconv.FormatUint(m.w, 10) + ":" + strconv.FormatUint(m.seq, 10)
}

// LiveKey names the live namespace. Absent, the live namespace is the
// configured Prefix.
var LiveKey = keys.Shared("segflow", "namespace") + ":live"

// NamespacesKey is the Redis set of the namespaces built besides the
// configured one: a replay into a namespace adds it, dropping it removes it.
// Erasures erase in each (Namespaces).
var NamespacesKey = keys.Shared("segflow", "namespace") + ":all"
