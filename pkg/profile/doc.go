// Package profile keeps per-customer profile state in Redis — purchase
// history, RFM window values, NES inputs, recent views, the open cart, traits
// and consent — and evaluates it as of a time T into the segmentation
// docs/segmentation.md defines: NES stage, RFM scores and segment, tags and
// tier, and the waterfall segment (pkg/waterfall) if a waterfall is
// configured.
//
// # Exactly-once effect
//
// Every write an event makes is a join: an order or refund is inserted into
// the customer's history only if its natural id (order id; refund event id) is
// absent, and the counters (orders, lifetime spend) move only on that insert;
// first and last purchase, last browse and last cart activity are minimum or
// maximum; recently viewed and bought items are lists ordered by event time
// where an item keeps its latest time, trimmed to the newest; cart lines and
// traits are last-writer-wins registers by event time. Joins are idempotent,
// commutative and associative, so applying an event twice — a redelivery
// after a crash between the Redis write and the offset commit, a rebalance,
// a replay of applied offsets, or a duplicate with another offset — changes
// nothing, and any delivery order gives the state of applying the events in
// event-time order. An order redelivered long after is recognised by its id,
// which the history keeps for every order and refund ever recorded.
//
// A customer's state is one record (record.go), read once per batch, changed
// in Go and written back whole by one compare-and-set on its write
// generation (apply.go): a batch's effect on a customer is all or nothing, and
// two writers of one customer at once (two updaters during a rebalance, the
// read API's consent) never lose each other's events: the loser of a
// conflict runs its batch again from fresh reads, which the joins make safe.
// A writer keeps the records it wrote (Config.Cache), so the customers of its
// own partitions cost one write per batch and no read, and their summaries
// (Summaries, published after each batch) are answered from it; a record
// whose content did not change (a redelivery) is not written. The snapshots
// of a batch (scores, NES stage, the tag rules: most of an evaluation's work)
// are computed on every core before the records' writes, which carry them,
// in parts: a part's writes are sent as soon as its snapshots are computed,
// and the next part's are computed meanwhile (evaluate). A customer's timer
// is written before their record, and a batch that writes a timer without
// the record checks that the record is still the one it read, so that a
// timer computed from a stale read never outlives the fresher one of
// another writer (TestATimerComputedFromAStaleReadIsNotLeftBehind).
//
// # Publishing each change once
//
// A changed customer's record is written with the snapshot the change
// publishes and the mark of its batch (writer id, batch number); the
// snapshots the changes replace go first, in the batch's outbox. The caller
// publishes the changes, then commits the batch (Commit): the outbox is
// deleted and the writer's watermark moves — two small writes per batch,
// none per customer. A reader of a record whose batch is above its
// writer's watermark and whose outbox is still there takes the outbox's
// snapshot as the one last published (pending.go). So a writer that dies
// between its write and its Commit leaves what it would have left dying
// before the write: the redelivered events give the same changes with the
// same ids (TestABatchNotCommittedIsPublishedAgainWithTheSameIDs), and
// after a Commit they give none.
//
// A customer is evaluated once per batch, after their last event in it (and
// before an identity merge), so a change is published per batch: a stage that
// begins and ends inside one batch (two orders within the same few
// milliseconds) is not announced on its own.
//
// # The population
//
// Scores and means are against the population: every customer's entry (F, M
// and last purchase as of their last evaluation, pkg/population), held in
// memory by each process that scores (Store.Population, loaded from Redis on
// first use) and recorded in each customer's own record. An evaluation
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
// A customer's published snapshot is scored against the population as their
// batch found it, so it depends on which other batches came first, and
// others' purchases move a customer's scores without an event of theirs.
// Rescore evaluates every customer against one population — each entry is
// recorded as of T first, then everyone is scored — so that afterwards each
// published snapshot is a function of the recorded events and T alone (the
// profile-updater rescores daily; a bulk rebuild rescores at its end).
//
// # Key layout
//
// Keys are built in keys.go only. Per customer c, hash-tagged so that one
// customer's keys share a Redis Cluster slot ({c}, where c is the id encoded
// by [keys.Tag]: no id can name another customer's key or a shared one;
// prefix "sf" by default):
//
//	sf:{c}:r     the record: a string of the write generation (8 bytes),
//	             then varints and length-prefixed strings (record.encode):
//	             profile version, orders, first and last purchase, last
//	             browse and cart activity, cart clear time, lifetime spend,
//	             the profile c was merged into and those merged into c,
//	             traits and consent (name -> time, value), cart lines
//	             (sku -> time, "<quantity>|<unit price micros>"), the history
//	             of orders "o:<id>" and refunds "r:<id>" (time, micros),
//	             viewed skus and categories (newest 100), bought skus and
//	             categories (newest 200), the snapshot last evaluated as
//	             a change and its batch's mark, and the population entry.
//	             Fields renders it for inspection.
//
// An erasure deletes exactly this key and the collector's identity link
// ([keys.Link]), never keys found by a pattern. Shared slots begin with '#'
// ([keys.Shared]). Timers are split into keys.Shards slots by customer
// ([keys.Shard]): sf:{#timers.<n>.<k>}:due (zset customer -> next
// time-driven change, ms); readers go through every shard in one pipeline.
// Writers of changes: sf:{#writers} (a counter, INCR gives a writer its id),
// sf:{#writers}:<id> (the writer's watermark, for 30 days after its last
// batch), and a batch's outbox in the shard of its number,
// sf:{#outbox.<n>.<k>}:<id>:<batch> (hash customer -> snapshot last
// published), from its write to its Commit (7 days if never committed; an
// erasure removes the customer from it).
// A replay building a namespace of its own is the sole scheduler of its
// timers (SoleScheduler): it keeps a lower bound of each shard's earliest
// timer and reads only the shards whose bound has come.
//
// # Cost
//
// A customer with a typical history (5 views, 2 cart lines, 3 orders,
// traits) takes about 0.7 KB of record and 0.9 KB of Redis memory with the
// key and its timer (BenchmarkMemoryPerCustomer; it was 3.8 KB in eight
// keys), and about 110–125 bytes of heap in each process's population.
// History grows by about 20 bytes an order, kept whole so that any
// redelivered order is recognised. Per event, an
// updater sends Redis one compare-and-set of the customer's record per
// batch in which the customer has events (on one server, one script call
// sets a whole part's records; on a cluster, one call each, since a
// script's keys share a slot), and a timer write if their next
// time-driven change moved (a writer remembers the timers it wrote: a view
// or a cart line leaves it); per batch, the outbox (a field per changed
// customer) and its Commit; and nothing else;
// scoring is in memory. BenchmarkApply gives the rate and Redis CPU per
// event beside a bare per-event script in the same run.
//
// Updaters scale out by partitions: each applies its own customers' events
// and puts every other updater's summaries into its population (Put), a
// step that does not shrink as updaters are added and so is kept to a read
// of the summary message's header (pkg/view). BenchmarkApplyTwoWriters
// gives the CPU per event of one writer and of two, each with half the
// customers, doing all of that.
//
// Money is in micros (millionths of the store currency) as integers; times are
// Unix milliseconds.
//
// # Bounds and refunds
//
// Amounts are at most money.MaxAmount and times within event.CheckTime's
// range; OpOf refuses anything else (the updater dead-letters it), which the
// collector and the importer never accept. Running sums are kept exact
// however large they grow: lifetime spend in two integers split at 10^9
// micros, and sums of M as 128-bit money.Sum (see money.MaxSum for the
// arithmetic). What is scored, tagged, recorded and reported — M, lifetime
// spend, cart value — is capped to [0, money.MaxSum].
//
// A refund is recorded whole, with its own time and id, whether or not its
// order is known: it may arrive before its order, and capping it by what the
// order has left at apply time would depend on arrival order. It lowers
// lifetime spend ever and M in the window of its own time. When refunds
// exceed orders — a refund larger than its order, or of an order never seen
// — the stored balance (lifetime spend, and the history) goes below 0 and stays
// there as the trace, while Lifetime and M read as 0. All of this is a
// function of the recorded set of orders and refunds, so the exactly-once
// invariant above still holds.
package profile
