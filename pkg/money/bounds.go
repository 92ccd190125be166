package money

import "fmt"

// Bounds on the amounts segflow accepts and on the sums it keeps. They are
// defined here once; schemas/defs.json states MaxAmountDigits and
// MaxMinorUnits in its money definition (a test checks that they agree), and
// the collector, the importer and the profile-updater all check amounts
// with CheckAmount, so that any amount the collector accepts the updater
// applies.
//
// Why these numbers: every sum segflow keeps must be exact and must not
// overflow, wherever it is kept.
//
//   - One customer's M and lifetime spend are scored, tagged and recorded
//     in the population capped at MaxSum, 9e15 micros, below 2^53
//     (9_007_199_254_740_992), so that they are exact as Redis sorted-set
//     scores and as Lua numbers, which are doubles.
//   - The running sums that Redis keeps (lifetime spend per customer, the
//     population's sum of M) are kept in two integer fields each, the amount
//     split at 10^9 micros. A sorted set or hash holds fewer than 2^32
//     members, so a customer has fewer than 2^32 orders and refunds, and the
//     population fewer than 2^32 buyers: the low field sums fewer than 2^32
//     terms below 10^9 (under 4.3e18) and the high field fewer than 2^32
//     terms of at most 9e6 (under 3.9e16), both below 2^63 ≈ 9.22e18.
//   - The sums in Go (the population's sum of M, CLV totals) are [Sum]s:
//     128 bits, where 2^32 terms of at most 2^63 fit with room to spare.
const (
	// MaxAmountDigits is the number of integer digits an amount may have:
	// a decimal amount is at most 999999999.999999 major units.
	MaxAmountDigits = 9
	// MaxAmount is the largest amount one money field of an event may
	// carry, in micros: 999_999_999.999999 major units.
	MaxAmount Micros = 999_999_999_999_999
	// MaxMinorUnits is the largest amount an integer money field (in minor
	// units of its currency) may carry. A minor unit is never larger than
	// the major unit, so it is within MaxAmount in every currency.
	MaxMinorUnits = 999_999_999
	// MaxSum caps one customer's M and lifetime spend where they are
	// scored, tagged, recorded in the population and reported: 9e9 major
	// units, 9e15 micros, exact as a double.
	MaxSum Micros = 9_000_000_000_000_000
)

// CheckAmount returns an ErrRange error for an amount below zero or above
// MaxAmount. Refunds, discounts and prices are all positive amounts.
func CheckAmount(m Micros) error {
	if m < 0 || m > MaxAmount {
		return fmt.Errorf("%w: %s is not from 0 to %s", ErrRange, m, MaxAmount)
	}
	return nil
}

// Cap returns m limited to [0, MaxSum].
func Cap(m int64) Micros {
	return Micros(max(0, min(m, int64(MaxSum))))
}
