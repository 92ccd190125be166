// Package broadcast sends a campaign to an audience: every customer an
// audience expression (pkg/audience) selects, now, at a time, or again and
// again — weekly on a weekday at an hour, monthly on a day, yearly on a date
// (an anniversary), at that hour on each customer's own wall clock.
//
// A broadcast only chooses who enters the campaign and when: each member is
// decided by the trigger service's decision path (trigger.Engine.Broadcast),
// through the campaign's guards — consent, caps, cooldown, quiet hours, daily
// budget, holdout — like a customer who entered it by their own event.
//
// # Invariant
//
// One decision per member per occurrence. An occurrence is named by its key
// ("once", or the local date of a recurring one), and a decision's id by the
// campaign, the customer and "broadcast:<id>:<occurrence>", so deciding a
// member again — after a crash, on a second runner — announces the decision
// made before and makes no second one.
//
// # Running
//
// A Runner takes one step at a time (the trigger service steps it between
// batches, so it shares the engine's goroutine). An occurrence opens when the
// first time zone reaches it (UTC+14 for a recurring one). Opening evaluates
// the audience on the population view in pages and queues each member at
// their own due time (their wall clock's hour on that date); once the whole
// audience is queued, each step decides the members due, at most the
// broadcast's rate per second, and in one script per shard marks them
// decided and counts their outcomes. A restart resumes from the queue: the
// queue, its fill cursor and the counts are the progress. A lease per
// broadcast lets one runner of several step it at a time.
//
// # Scale
//
// The queue is split by member into the keys.Shards shards of one shared
// record ([keys.ShardN]), so that a broadcast to millions spreads over every
// master of a Redis Cluster; each shard keeps, in its slot, the counts of
// its members beside them, so that deciding a member takes it off the queue
// and counts its outcome in one script, once however many runners decide it.
// A decided member stays in its shard (due +inf) until the occurrence ends,
// so that a runner that fell behind cannot queue it again; each shard holds
// one occurrence (its epoch, when it opened) and refuses an earlier one.
//
// A member whose send waits for the end of the quiet hours is counted
// waiting, and remembered in its shard; once the trigger service has
// published the decision, a runner counts its outcome in place of waiting,
// once. A finished broadcast is stepped until none waits.
//
// A recurring occurrence that no runner began within Runner.Grace of its
// hour in the last time zone (the runners were stopped) is skipped and
// counted; Schedule.Until ends a recurring broadcast.
//
// Keys (keys.go): bc:{#broadcasts} (zset id -> creation ms, every
// broadcast), bc:{#broadcasts}:active (set of the ids not finished), per
// broadcast b, in b's slot: bc:{b}:def (the definition, JSON), bc:{b}:state
// (hash of progress), bc:{b}:lease; and per broadcast b and shard n, in the
// shard's slot: bc:{#queue.<n>.<k>}:<b>:queue (zset member -> due ms),
// :counts (hash: epoch, members, decided, n:<outcome>) and :waiting (set of
// "<occurrence>|<member>").
package broadcast
