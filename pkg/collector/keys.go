package collector

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
)

// seenKey is the dedup marker of the event with id from source (dedup.go):
// the source and id, which come from outside, are hashed, so the key is of
// fixed length and holds none of their bytes.
func seenKey(source, id string) string {
	h := sha256.Sum256([]byte(source + "\x00" + id))
	return "sf:seen:" + hex.EncodeToString(h[:16])
}

// linkKey holds the user id an anonymous id was tied to (keys.Link).
func linkKey(anonymousID string) string {
	return keys.Link(event.CustomerID("", anonymousID))
}

// linksKey holds the anonymous customers tied to user (keys.Links), which
// an erasure of the user erases too.
func linksKey(user string) string { return keys.Links(user) }
