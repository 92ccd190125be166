package broadcast

import "github.com/segflow/segflow/pkg/keys"

// Every key of broadcasts, under the prefix "bc" (see the package comment
// for what each holds). A broadcast's own keys share its slot; the queue of
// its members is split by member into the keys.Shards shards of queueRecord,
// each with the counts of its members beside it, so that deciding a member
// takes it off its shard of the queue and counts its outcome in one script.
const prefix = "bc"

// allSlot is the shared slot of the list of broadcasts.
const allSlot = "broadcasts"

// queueRecord is the shared record whose shards ([keys.ShardN]) hold every
// broadcast's queue: shard n of every broadcast is in the same slot.
const queueRecord = "queue"

// allKey is every broadcast: zset id -> creation time (Unix ms).
func allKey() string { return keys.Shared(prefix, allSlot) }

// activeKey is the set of the broadcasts not finished.
func activeKey() string { return keys.Shared(prefix, allSlot) + ":active" }

func ownKey(id, suffix string) string { return keys.Customer(prefix, id) + suffix }

// defKey holds broadcast id's definition, JSON.
func defKey(id string) string { return ownKey(id, "def") }

// stateKey holds broadcast id's progress: a hash of the fields f* below.
func stateKey(id string) string { return ownKey(id, "state") }

// leaseKey holds the runner stepping broadcast id, for a while.
func leaseKey(id string) string { return ownKey(id, "lease") }

// shardKey is key suffix of broadcast id in shard n of the queue record:
// "bc:{#queue.<n>.<k>}:<Tag(id)>:<suffix>".
func shardKey(id string, n int, suffix string) string {
	return keys.ShardN(prefix, queueRecord, n) + ":" + keys.Tag(id) + ":" + suffix
}

// queueKey holds shard n of the current occurrence's members: zset customer
// -> due time (Unix ms), +inf once decided.
func queueKey(id string, n int) string { return shardKey(id, n, "queue") }

// countsKey holds the counts of shard n's members: a hash of the fields s*
// below and of the counts of outcomes, "n:<outcome>", of every occurrence.
func countsKey(id string, n int) string { return shardKey(id, n, "counts") }

// waitingKey holds shard n's members whose decision waits for the end of
// the quiet hours: a set of "<occurrence>|<customer>".
func waitingKey(id string, n int) string { return shardKey(id, n, "waiting") }
