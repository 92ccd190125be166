package event

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/money"
)

// Bounds on event times, shared by the collector, the importer and the
// profile-updater (money bounds are in package money, and in the schemas).
//
// An event's time must be no earlier than MinTime and no later than its
// receipt plus a configured skew (Collector and Importer MaxFuture, default
// DefaultMaxFuture, at most MaxFutureLimit). The profile-updater checks the
// same rule against the event's receivedat extension with MaxFutureLimit, so
// whatever the collector or the importer accepted, under any configuration,
// the updater applies; and what a producer writes to Kafka directly is
// bounded too.
const (
	// DefaultMaxFuture is how far past its receipt an event time may be by
	// default: a day covers a client whose clock is wrong by its time zone.
	DefaultMaxFuture = 24 * time.Hour
	// MaxFutureLimit is the largest MaxFuture that can be configured.
	MaxFutureLimit = 7 * 24 * time.Hour
)

// MinTime is the earliest event time accepted, the Unix epoch: profile state
// keeps times as non-negative Unix milliseconds.
var MinTime = time.Unix(0, 0).UTC()

// MaxFuture returns d as a bound on event times past their receipt:
// DefaultMaxFuture if d ≤ 0, and at most MaxFutureLimit.
func MaxFuture(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultMaxFuture
	}
	return min(d, MaxFutureLimit)
}

// CheckTime returns an *InvalidError naming field if t is before MinTime or
// more than maxFuture (see MaxFuture) after received.
func CheckTime(field string, t, received time.Time, maxFuture time.Duration) error {
	maxFuture = MaxFuture(maxFuture)
	if t.Before(MinTime) {
		return Invalid(field, "minimum", "%s is before %s, the earliest time accepted", t.UTC().Format(time.RFC3339Nano), MinTime.Format(time.RFC3339))
	}
	if latest := received.Add(maxFuture); t.After(latest) {
		return Invalid(field, "maximum", "%s is more than %s after its receipt at %s", t.UTC().Format(time.RFC3339Nano), maxFuture, received.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// CheckReceived checks e's time against its receivedat extension as the
// profile-updater does: with MaxFutureLimit, so that every event that the
// collector or the importer accepted passes. An event without receivedat
// (written to Kafka by another producer) is checked against now.
func CheckReceived(e cloudevents.Event, now time.Time) error {
	received := now
	if s, ok := e.Extensions()[ExtReceivedAt].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			received = t
		}
	}
	return CheckTime("time", e.Time(), received, MaxFutureLimit)
}

// amountMessage says what a money field may hold, for errors.
func amountMessage() string {
	return fmt.Sprintf("must be an amount from 0 to %s: a decimal string with at most %d integer and 6 fraction digits, or a whole number of minor units from 0 to %d",
		money.MaxAmount, money.MaxAmountDigits, money.MaxMinorUnits)
}

// Bounds on identify traits (see Traits), shared by the collector and the
// profile-updater, and in schemas/segflow.identify.identify.json.
const (
	// MaxTraits is the most traits one identify may carry, consent aside.
	MaxTraits = 64
	// MaxTraitName is the longest trait name in bytes, after normalising
	// (TraitName): nested names joined by dots included.
	MaxTraitName = 64
	// MaxTraitValue is the longest string value of a trait in bytes; the
	// email trait may have MaxEmail.
	MaxTraitValue = 256
	// MaxEmail is the longest email trait in bytes (RFC 5321's 320).
	MaxEmail = 320
)
