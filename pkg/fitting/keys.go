package fitting

import "github.com/segflow/segflow/pkg/keys"

// paramsKey is the fitted model of namespace ns: a JSON string (Params). It
// is in the namespace's shared slots, so that dropping the namespace drops it.
func paramsKey(ns string) string { return keys.Shared(ns, "model") + ":params" }

// refitLeaseKey is taken by the profile-updater that refits namespace ns in
// an interval (Refitter), so that a group refits once.
func refitLeaseKey(ns string) string { return keys.Shared(ns, "model") + ":refit" }
