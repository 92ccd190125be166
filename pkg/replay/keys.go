package replay

import "github.com/segflow/segflow/pkg/keys"

// The keys replays own.

// RevivedKey is the Redis set of the ids of the originals that replays of
// events.invalid re-published: an original is re-published once, however
// many letters name it and however often the topic is replayed. It is not in
// a namespace: the topics the originals go back to serve them all.
var RevivedKey = keys.Shared("segflow", "replay") + ":revived"

// ProgressKey is the Redis hash of the replay into namespace ns: "topics",
// "state" (running or done), "T" (the clock, ms) and, per partition
// "<topic>/<partition>", "<start>|<next>|<end>".
func ProgressKey(ns string) string { return keys.Shared(ns, "replay") + ":progress" }
