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

// Shared slots of a namespace.
const (
	slotPopulation = "rfm"
	slotTimers     = "timers"
)

var populationSuffixes = []string{"f", "m", "last", "tod", "sum", "at"}

func (s *Store) populationKeys() []string {
	b := keys.Shared(s.cfg.Prefix, slotPopulation) + ":"
	out := make([]string, len(populationSuffixes))
	for i, suffix := range populationSuffixes {
		out[i] = b + suffix
	}
	return out
}

func (s *Store) timerKey() string { return keys.Shared(s.cfg.Prefix, slotTimers) + ":due" }

// LiveKey names the live namespace. Absent, the live namespace is the
// configured Prefix.
var LiveKey = keys.Shared("segflow", "namespace") + ":live"

// NamespacesKey is the Redis set of the namespaces built besides the
// configured one: a replay into a namespace adds it, dropping it removes it.
// Erasures erase in each (Namespaces).
var NamespacesKey = keys.Shared("segflow", "namespace") + ":all"
