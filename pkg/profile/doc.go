// Package profile keeps per-customer profile state in Redis — purchase
// history, RFM window values, NES inputs, recent views, the open cart, traits
// and consent — and evaluates it as of a time T into the segmentation
// docs/segmentation.md defines: NES stage, RFM scores and segment, tags and tier.
//
// # Exactly-once effect
//
// Every write an event makes is a join: an order or refund is inserted into
// the customer's history only if its natural id (order id; refund event id) is
// absent, and the counters (orders, lifetime spend) move only on that insert;
// first and last purchase, last browse and last cart activity are minimum or
// maximum; recently viewed and bought items are sorted sets scored by event
// time and trimmed to the newest; cart lines and traits are last-writer-wins
// registers by event time. Joins are idempotent, commutative and associative,
// so applying an event twice — a redelivery after a crash between the Redis
// write and the offset commit, a rebalance, a replay of applied offsets, or a
// duplicate with another offset — changes nothing, and any delivery order
// gives the state of applying the events in event-time order. Each event is
// applied by one Lua script on the customer's keys, so a crash never leaves an
// event half-applied.
//
// A customer is evaluated once per batch, after their last event in it (and
// before an identity merge), so a change is published per batch: a stage that
// begins and ends inside one batch (two orders within the same few
// milliseconds) is not announced on its own. The script of that last event
// also returns the window values as of T; the rest of the state is read by
// plain commands pipelined after it. A batch is split by customer into shards
// (Config.Shards) whose pipelines are in flight at once, so that Redis works
// on one while the replies of another are decoded.
//
// # The population
//
// Scores and means are against the population: every customer's entry (F, M
// and last purchase as of their last evaluation, pkg/population), held in
// memory by each process that scores (Store.Population, loaded from Redis on
// first use) and recorded in each customer's own profile hash. An evaluation
// replaces the customer's entry, and an entry older than the one held (lower
// profile version, or the same version at an earlier T) is ignored, in
// memory and in Redis alike. The population is recorded for the whole batch
// before anyone is scored. Other processes' evaluations and erasures reach a
// population through the summaries topic (Store.Put, profile.Live.Put),
// so scoring asks Redis nothing and no key holds many customers' entries.
// Snapshot changes get ids derived from customer, cause and before/after, so
// a change recomputed after a crash is published again with the same
// CloudEvent id.
//
// # Key layout
//
// Keys are built in keys.go only. Per customer c, hash-tagged so that one
// customer's keys share a Redis Cluster slot ({c}, where c is the id encoded
// by [keys.Tag]: no id can name another customer's key or a shared one;
// prefix "sf" by default):
//
//	sf:{c}:p     hash: ver, n, first, last, ltv and ltvh (lifetime spend =
//	             ltvh * 10^9 + ltv micros), last_browse, last_cart,
//	             cart_clear, a:<trait> = "<ms>|<value>", derived (last published snapshot),
//	             pe (population entry "<version>|<T>|<F>|<M>|<last>")
//	sf:{c}:h     zset: purchase history, "o:<order id>" / "r:<refund id>" -> event time (ms)
//	sf:{c}:amt   hash: the same members -> amount in micros
//	sf:{c}:vs    zset: viewed skus -> last view (ms), newest 100
//	sf:{c}:vc    zset: viewed categories -> last view (ms), newest 100
//	sf:{c}:b     zset: bought "s:<sku>" / "c:<category>" -> last purchase (ms), newest 200
//	sf:{c}:cart  hash: sku -> "<ms>|<quantity>|<unit price micros>" (quantity 0: removed)
//	sf:{c}:merged set: the anonymous profiles merged into c
//
// An erasure deletes exactly these keys and the collector's identity link
// ([keys.Link]), never keys found by a pattern. Shared slots begin with '#'
// ([keys.Shared]). Timers are split into keys.Shards slots by customer
// ([keys.Shard]): sf:{#timers.<n>.<k>}:due (zset customer -> next
// time-driven change, ms); readers go through every shard in one pipeline.
//
// A customer with a typical history (5 views, 2 cart lines, 3 orders, traits)
// takes about 3.3 KB in Redis (BenchmarkMemoryPerCustomer): 7 keys, of which
// the profile hash is about 1.3 KB (its population entry about 40 bytes) and
// 0.1 KB of timer; and about 100 bytes of heap in each process's population.
// Order history is kept whole, so it grows with orders.
//
// Money is in micros (millionths of the store currency) as integers; times are
// Unix milliseconds.
//
// # Bounds and refunds
//
// Amounts are at most money.MaxAmount and times within event.CheckTime's
// range; OpOf refuses anything else (the updater dead-letters it), which the
// collector and the importer never accept. Running sums are kept exact
// however large they grow: lifetime spend and the population's sum of M in
// two integer fields each, split at 10^9 micros, and M's window sum as
// split parts in the script (see splitLua and money.MaxSum for the
// arithmetic). What is scored, tagged, recorded and reported — M, lifetime
// spend, cart value — is capped to [0, money.MaxSum].
//
// A refund is recorded whole, with its own time and id, whether or not its
// order is known: it may arrive before its order, and capping it by what the
// order has left at apply time would depend on arrival order. It lowers
// lifetime spend ever and M in the window of its own time. When refunds
// exceed orders — a refund larger than its order, or of an order never seen
// — the stored balance (ltv fields, and the history) goes below 0 and stays
// there as the trace, while Lifetime and M read as 0. All of this is a
// function of the recorded set of orders and refunds, so the exactly-once
// invariant above still holds.
package profile
