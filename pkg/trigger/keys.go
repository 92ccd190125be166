package trigger

import (
	"strings"

	"github.com/segflow/segflow/pkg/keys"
)

// Every key of the trigger service, under the prefix "tr". Per customer c,
// hash-tagged like the profile's (see the package comment for what each
// holds); campaign names in keys are encoded like ids.
const prefix = "tr"

func customerKey(c, suffix string) string { return keys.Customer(prefix, c) + suffix }

func pendingKey(c string) string   { return customerKey(c, "pending") }
func decidedKey(c string) string   { return customerKey(c, "decided") }
func sentKey(c string) string      { return customerKey(c, "sent") }
func lastKey(c string) string      { return customerKey(c, "last") }
func exposedKey(c string) string   { return customerKey(c, "exposed") }
func convertedKey(c string) string { return customerKey(c, "converted") }
func buysKey(c string) string      { return customerKey(c, "buys") }
func viewsKey(c string) string     { return customerKey(c, "views") }

// journeysKey holds c's places in journeys: hash journey name -> position
// (journey.go).
func journeysKey(c string) string { return customerKey(c, "journeys") }

// mergedKey holds the customer an anonymous customer c was merged into.
func mergedKey(c string) string { return customerKey(c, "merged") }

// campaignSentKey holds c's sends of one campaign; lastKey has a field for
// every campaign that has one, which is how Erase finds them.
func campaignSentKey(c, campaign string) string {
	return customerKey(c, "sent:"+keys.Tag(campaign))
}

// fixedKeys are c's keys whose names do not depend on campaigns.
func fixedKeys(c string) []string {
	return append(stateKeys(c), mergedKey(c), journeysKey(c))
}

// stateKeys are c's keys whose names do not depend on campaigns and that a
// merge moves to another customer, in the order of followScript's KEYS.
func stateKeys(c string) []string {
	return []string{pendingKey(c), decidedKey(c), sentKey(c), lastKey(c), exposedKey(c), convertedKey(c), buysKey(c), viewsKey(c)}
}

// Shared slots.

// recordTimers is the timers of waits, sharded by customer ([keys.Shard]):
// a customer's timers are in the shard of their id, so no cluster master
// holds all of them.
const recordTimers = "timers"

// dueKey is the shard of the timers that holds customer c's: zset of
// member(campaign, c) -> due time (Unix ms).
func dueKey(c string) string { return keys.Shard(prefix, recordTimers, c) + ":due" }

// dueKeys are every shard of the timers.
func dueKeys() []string {
	out := make([]string, keys.Shards)
	for n := range out {
		out[n] = keys.ShardN(prefix, recordTimers, n) + ":due"
	}
	return out
}

// statsKey holds a campaign's statistics (see attribution.go).
func statsKey(campaign string) string { return keys.Shared(prefix, statsSlot+keys.Tag(campaign)) }

const statsSlot = "stats:"

// statsPattern matches every campaign's statistics key.
var statsPattern = prefix + ":{#" + statsSlot + "*"

// statsCampaign returns the campaign whose statistics key is key.
func statsCampaign(key string) (string, bool) {
	name, ok := keys.SharedOf(prefix, key)
	if !ok {
		return "", false
	}
	tag, ok := strings.CutPrefix(name, statsSlot)
	if !ok {
		return "", false
	}
	campaign, err := keys.Untag(tag)
	return campaign, err == nil
}

// journeyStatsKey holds the counts of a journey version (journey.ID): hash
// "<step>|reached", "<step>:<arm>|reached", "ended|<how>" -> count.
func journeyStatsKey(id string) string { return keys.Shared(prefix, "jstats:"+keys.Tag(id)) }

// journeyTimer prefixes the journey name in a journey's timer member
// (member(journeyTimer+name, c)), which no campaign name begins with.
const journeyTimer = "\x1ejourney:"

// budgetKey holds a campaign's daily budget slots of one day.
func budgetKey(campaign, day string) string {
	return keys.Shared(prefix, "budget:"+keys.Tag(campaign)) + ":" + day
}
