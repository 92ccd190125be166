package api

import "github.com/segflow/segflow/pkg/keys"

// The keys the read API owns.

// AuditKey is the Redis stream of erasures: one entry per erasure with the
// SHA-256 of the customer id, the time and the requester, never the id.
var AuditKey = keys.Shared("privacy", "audit")
