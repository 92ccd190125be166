// Package coupon issues coupon codes for campaign decisions and redeems them
// on orders.
//
// A Definition (the coupons section of the campaigns file, pkg/campaign)
// says where codes come from — a pool of codes loaded from a file, each
// issued once, or a code generated per decision, HMAC-SHA256 of the coupon,
// the customer and the decision id under a secret — what they are worth
// (percent or amount, by the customer's tier) and how long they are valid
// (days from issue, or until a fixed end). Its methods are pure: no clock,
// no Redis.
//
// A Store keeps codes in Redis. Issuing is three steps around the trigger
// service's decision: Reserve takes a code for a decision id (from the pool,
// or the generated one) before the guards are applied; Confirm issues it
// once the decision is a send, or Release gives it back otherwise. Every
// step is idempotent by decision id, so a decision redelivered after a crash
// gets the code it had, and never takes a second one from the pool.
//
// Redeem applies an order that carries a code, atomically in the code's
// slot: the first order of the code's customer within its validity redeems
// it; the same order again changes nothing; another order, a late one or
// another customer's is refused with its reason, once per order. Each step
// counts its effect (issued, redeemed, revenue, time to redeem, refusals by
// reason) in the same script that makes it, so the counts are exact across
// crashes and redeliveries.
//
// Keys (keys.go): codes and their counts are sharded by code over Shards
// slots, cp:{#codes:<n>}:code:<code> (hash) and cp:{#codes:<n>}:stats:<campaign>
// (hash); a pool over PoolShards slots, cp:{#pool:<coupon>:<n>}:free (set),
// :all (set of every code loaded) and :taken (hash decision id -> code). A
// code's record holds its customer as a hash, never the id.
package coupon
