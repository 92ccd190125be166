package updater

import (
	"strconv"
	"time"

	"github.com/segflow/segflow/pkg/keys"
)

// rescoreLeaseKey is taken by the profile-updater that rescores namespace ns
// at boundary at (Updater.Rescores), so that a group rescores once. It is in
// the namespace's shared slots, so that dropping the namespace drops it.
func rescoreLeaseKey(ns string, at time.Time) string {
	return keys.Shared(ns, "rescore") + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}
