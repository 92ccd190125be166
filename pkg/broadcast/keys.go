package broadcast

import "github.com/segflow/segflow/pkg/keys"

// Every key of broadcasts, under the prefix "bc" (see the package comment
// for what each holds). A broadcast's own keys share its slot, so that a step
// updates its queue and its counts in one transaction.
const prefix = "bc"

// allSlot is the shared slot of the list of broadcasts.
const allSlot = "broadcasts"

// allKey is every broadcast: zset id -> creation time (Unix ms).
func allKey() string { return keys.Shared(prefix, allSlot) }

// activeKey is the set of the broadcasts not finished.
func activeKey() string { return keys.Shared(prefix, allSlot) + ":active" }

func ownKey(id, suffix string) string { return keys.Customer(prefix, id) + suffix }

// defKey holds broadcast id's definition, JSON.
func defKey(id string) string { return ownKey(id, "def") }

// stateKey holds broadcast id's progress: a hash of the fields f* below
// and of the counts of outcomes, "n:<outcome>".
func stateKey(id string) string { return ownKey(id, "state") }

// queueKey holds the current occurrence's members not yet decided: zset
// customer -> due time (Unix ms).
func queueKey(id string) string { return ownKey(id, "queue") }

// leaseKey holds the runner stepping broadcast id, for a while.
func leaseKey(id string) string { return ownKey(id, "lease") }
