// Package rfm computes RFM (Recency, Frequency, Monetary) values, quintile
// scores and the 8 classic segments, exactly as docs/segmentation.md defines
// them.
// It is pure: no I/O and no clock; the time T is always passed in, so live
// processing, replays in event time and tests get the same answers.
//
// Definitions, as of a time T with a window W (DefaultWindow, 365 days):
//
//   - R is the whole days since the customer's last purchase ever (not only in
//     the window): floor((T − last) / 24h).
//   - F is the number of completed orders with a time in (T−W, T]: an order
//     exactly at T−W is outside, one exactly at T inside. Refunds never lower F.
//   - M is the order totals minus the refunds with a time in (T−W, T], in
//     micros (millionths of the currency unit), never below 0, and capped
//     at money.MaxSum (9e9 currency units), so that it stays exact where it
//     is kept as a double (Redis sorted-set scores, Lua).
//   - A buyer is a customer with F ≥ 1 at T. Only buyers are scored, and only
//     buyers count in the population.
//   - A score is 1 + floor(5 × better / buyers), where better is the number of
//     buyers with a strictly smaller value (for F and M) or a strictly larger
//     value (for R: more recent is better). Tied buyers get the same score, so
//     if every buyer has the same value, every buyer scores 1.
//   - The segment compares each dimension with the buyers' mean: R is high if
//     R ≤ mean R, F is high if F ≥ mean F, M is high if M ≥ mean M (a value
//     equal to the mean is high in all three). The comparison is exact: it is
//     done as R × buyers ≤ ΣR (and so on) in 128-bit integer arithmetic, never
//     in floating point; ΣM is a 128-bit money.Sum, which no population can
//     overflow.
//
// The invariant is that Score and Segment, given only a Population and the
// count of better buyers (as the Redis-backed incremental scoring keeps them),
// agree with Compute, which scores a whole population at once.
package rfm
