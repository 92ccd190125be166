// Package segment maps the Segment tracking API, and RudderStack's which sends
// the same shapes, onto segflow's canonical CloudEvents, so websites and apps
// can send events with the analytics.js, mobile and server libraries they
// already have.
//
// It is pure mapping, no I/O: Decode reads the body of a POST to /v1/track,
// /v1/page, /v1/screen, /v1/identify, /v1/alias, /v1/group, /v1/batch or
// /v1/import into messages, and ToEvent maps one message to a CloudEvent.
//
// The invariant: every event ToEvent returns has data that validates against
// the JSON Schema of its type in schemas/, carries money only as exact decimal
// strings (never a binary float), and copies no personal data beyond what an
// identify call's traits name. Anything else is an *event.InvalidError whose
// fields are JSON pointers into the Segment message ("/properties/price"), so
// the producer can see what to fix.
//
// # Event time and client clocks
//
// A message's timestamp is on the client's clock, which may be wrong. As
// Segment does, segflow measures the client's error as the time from the
// request's sentAt (the client's clock) to its receipt (the server's), but
// that difference also holds the request's latency, which varies from
// request to request: moving each request's events by its own difference
// put a Product Added sent 2 ms before an Order Completed, in a slower
// request, after it. So the difference is rounded to the nearest whole
// [SkewUnit] (a minute) before the timestamps are moved by it. The
// invariant: events one client sent in order keep that order in event time,
// within a request (all its events move by the same amount) and across
// requests:
//
//   - a client whose clock and latency together are less than half a minute
//     off — browsers and phones with network time, on any usual network —
//     is not corrected at all: its own timestamps, whose order it made, are
//     the event times;
//   - a client further off (a wrong time zone, a clock set by hand) is
//     corrected by the same whole minutes in every request, as latency
//     changes the difference by less than the rounding absorbs; only a
//     clock whose error plus latency straddles a half minute can see its
//     corrections differ by a minute from one request to the next.
//
// The rule needs no memory of clients, so every collector replica applies
// the same correction to a client's requests. Its bounds: a corrected event
// lands within half a minute (plus latency) of when it happened on the
// server's clock, and, unless its timestamp is after its own sentAt, at most
// half a minute past its receipt; and no timestamp is moved by more than
// [Options.MaxSkew] (the collector's --max-future, a day by default): a
// sentAt further from the receipt is not a clock error but a wrong or stale
// one (mobile libraries set sentAt when they close a batch and retry it as
// it is, possibly days later), and the timestamps are taken as they are.
// The collector then rejects, as for any event, a time more than
// --max-future past its receipt or before 1970.
package segment
