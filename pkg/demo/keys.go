package demo

import "github.com/segflow/segflow/pkg/keys"

// LoadedKey is the Redis string that tells that namespace ns holds the
// sample: the time (RFC 3339) its load finished. Load does nothing while it
// is set.
func LoadedKey(ns string) string { return keys.Shared(ns, "demo") + ":loaded" }

// ProgressKey is the Redis string that tells how far a load of the sample
// into namespace ns got: the clock's time (RFC 3339) at the end of the last
// week it finished. A load that stopped goes on from the week after.
func ProgressKey(ns string) string { return keys.Shared(ns, "demo") + ":week" }
