package demo

import "github.com/segflow/segflow/pkg/keys"

// LoadedKey is the Redis string that tells that namespace ns holds the
// sample: the time (RFC 3339) its load finished. Load does nothing while it
// is set.
func LoadedKey(ns string) string { return keys.Shared(ns, "demo") + ":loaded" }
