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
// broadcast's rate per second, and in one transaction removes them from the
// queue and counts their outcomes. A restart resumes from the queue: the
// queue, its fill cursor and the counts are the progress. A lease per
// broadcast lets one runner of several step it at a time.
//
// Keys (keys.go): bc:{#broadcasts} (zset id -> creation ms, every
// broadcast), bc:{#broadcasts}:active (set of the ids not finished), and per
// broadcast b, in b's slot: bc:{b}:def (the definition, JSON), bc:{b}:state
// (hash of progress and counts), bc:{b}:queue (zset member -> due ms),
// bc:{b}:lease.
package broadcast
