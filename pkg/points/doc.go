// Package points keeps each customer's points ledger: credits, each with
// its expiry, made by the points action of a campaign's or a journey's
// trigger (pkg/trigger), and spends made by orders that carry points_spent.
// The balance at a time is the sum of what is left of the credits issued by
// then and not yet expired; GET /v1/profiles/{id} shows it.
//
// # Invariant
//
// A credit is made once per decision id and a spend once per order id, so
// a trigger or an order handled twice changes the ledger once. A spend takes
// from the credits that expire first, and never more than the balance at the
// order's time: an order that spends more is recorded as refused and takes
// nothing.
package points
