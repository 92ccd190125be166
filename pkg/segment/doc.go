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
package segment
