package segment

import "time"

// SkewUnit is the unit client clocks are corrected in: the offset between a
// request's sentAt and its receipt is rounded to the nearest whole SkewUnit.
// A client whose clock and network together put it less than half a unit
// off is not corrected at all, and one further off is corrected by the same
// amount in request after request, whatever each request's latency; so
// events keep the order of the client's own clock (see the package doc).
const SkewUnit = time.Minute

// eventTime is when a message's event happened, on the server's clock: its
// timestamp (or RudderStack's originalTimestamp) moved by the correction of
// its sentAt, the message's own or else its batch's. Without sentAt the
// timestamp is taken as is; without a timestamp the event happened when it
// was received.
func eventTime(m object, batchSentAt, receivedAt time.Time, maxSkew time.Duration) time.Time {
	ts, ok := m.time("timestamp")
	if !ok && !m.has("timestamp") {
		ts, ok = m.time("originalTimestamp")
	}
	sentAt, sent := m.time("sentAt")
	if !sent && !batchSentAt.IsZero() {
		sentAt, sent = batchSentAt, true
	}
	switch {
	case ok && sent:
		return ts.Add(correction(sentAt, receivedAt, maxSkew))
	case ok:
		return ts
	default:
		return receivedAt
	}
}

// correction is how far a client's timestamps are moved onto the server's
// clock: the time from sentAt to receivedAt, which is the client's clock
// error plus the request's latency, rounded to the nearest SkewUnit. It is
// zero when that rounds beyond maxSkew: such a sentAt is wrong or stale (a
// mobile library's batch kept offline for days still carries the sentAt of
// when it was closed), not a clock error to correct.
func correction(sentAt, receivedAt time.Time, maxSkew time.Duration) time.Duration {
	d := receivedAt.Sub(sentAt).Round(SkewUnit)
	if d > maxSkew || d < -maxSkew {
		return 0
	}
	return d
}
