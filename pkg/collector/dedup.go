package collector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/stream"
)

// Dedup and identity state in Redis.
//
// An event is known by its source and id. Before writing, the collector claims
// each id with SET NX GET of a "pending" marker that expires after the longest
// a Kafka write can take; after Kafka acknowledged the write it turns the marker
// into "done" for the dedup window, and on a failed write it deletes it. So:
//   - a retry of a written event finds "done" and is answered as a duplicate;
//   - a retry racing the first attempt finds "pending" and gets 503, to come
//     back when the outcome is known;
//   - a collector that dies between claim and write leaves a marker that
//     expires, never one that blocks the event for the whole window.
//
// A crash after Kafka acknowledged but before "done" was stored lets a retry
// write the event a second time; consumers apply events by id with exactly-once
// effect, so the duplicate on the topic changes nothing downstream.
//
// Identity links map an anonymous id to the user id an identify or alias tied
// it to: key sf:{anon:<id>}:link (keys.Link), hash-tagged by the anonymous
// customer id like every per-customer key.
const (
	markPending = "p"
	markDone    = "d"

	// releaseTimeout bounds the Redis writes made after Kafka answered.
	releaseTimeout = 5 * time.Second
)

// batchLinks returns the anonymous id → user id links that the identify and
// alias events of items establish.
func batchLinks(items []*item) map[string]string {
	links := map[string]string{}
	for _, it := range items {
		if !it.ok() || it.erased {
			continue
		}
		switch it.ev.Type() {
		case event.Identify:
			if it.ids.AnonymousID != "" && it.ids.UserID != "" {
				links[it.ids.AnonymousID] = it.ids.UserID
			}
		case event.Alias:
			if it.ids.PreviousID != "" && it.ids.PreviousID != it.ids.UserID {
				links[it.ids.PreviousID] = it.ids.UserID
			}
		}
	}
	return links
}

// merged is the anonymous customer an identify or alias joins to its user, as
// the profile-updater merges it; "" for other events.
func (it *item) merged() string {
	return event.Merged(it.ev.Type(), it.ids.AnonymousID, it.ids.PreviousID)
}

// resolve sets each valid item's canonical customer id: its user id, else the
// user its anonymous id is linked to (in this request or earlier), else the
// anonymous id itself. It marks erased the events that the profile-updater
// would drop (privacy.Dropped): those of a customer, or merging an anonymous
// one, erased at or after the event's time. So an identify sent after an
// erasure but dated before it does not link the erased customer again.
func (c *Collector) resolve(ctx context.Context, items []*item) error {
	var named []string
	for _, it := range items {
		if it.ok() {
			named = append(named, event.CustomerID(it.ids.UserID, it.ids.AnonymousID))
			if m := it.merged(); m != "" {
				named = append(named, m)
			}
		}
	}
	erased, err := c.erasures.Erased(ctx, named)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	if erased == nil {
		erased = map[string]time.Time{}
	}
	for _, it := range items {
		if it.ok() && it.merged() != "" {
			it.erased = privacy.Dropped(erased, it.ids.UserID, it.ev.Time()) || privacy.Dropped(erased, it.merged(), it.ev.Time())
		}
	}

	links := batchLinks(items)
	var lookup []*item
	for _, it := range items {
		if !it.ok() || it.erased {
			continue
		}
		switch {
		case it.ids.UserID != "":
			it.key = it.ids.UserID
		case links[it.ids.AnonymousID] != "":
			it.key = links[it.ids.AnonymousID]
		default:
			lookup = append(lookup, it)
		}
	}
	if len(lookup) > 0 {
		pipe := c.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(lookup))
		for i, it := range lookup {
			cmds[i] = pipe.Get(ctx, linkKey(it.ids.AnonymousID))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("%w: resolve identities: %v", errUnavailable, err)
		}
		var linked []string
		for i, it := range lookup {
			it.key = cmds[i].Val()
			if it.key == "" {
				it.key = event.CustomerID("", it.ids.AnonymousID)
			} else {
				linked = append(linked, it.key)
			}
		}
		// Users linked earlier are not among the customers the events name.
		more, err := c.erasures.Erased(ctx, linked)
		if err != nil {
			return fmt.Errorf("%w: %v", errUnavailable, err)
		}
		maps.Copy(erased, more)
	}
	for _, it := range items {
		if it.ok() && !it.erased {
			it.erased = privacy.Dropped(erased, it.key, it.ev.Time())
		}
	}
	return nil
}

// claim marks each valid item's id as pending, or finds it a duplicate. If
// another request is writing the same event right now it releases its own
// claims and answers unavailable, so the client retries once the outcome is
// known.
func (c *Collector) claim(ctx context.Context, items []*item) error {
	pipe := c.rdb.Pipeline()
	cmds := map[*item]*redis.StatusCmd{}
	inRequest := map[string]bool{}
	ttl := stream.MaxWriteDuration(c.cfg.WriteTimeout) + c.cfg.WriteTimeout
	for _, it := range items {
		if !it.toWrite() {
			continue
		}
		if inRequest[it.seen] {
			it.duplicate = true
			continue
		}
		inRequest[it.seen] = true
		cmds[it] = pipe.SetArgs(ctx, it.seen, markPending, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl})
	}
	if len(cmds) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		c.release(items) // some claims may have been made
		return fmt.Errorf("%w: claim event ids: %v", errUnavailable, err)
	}
	inFlight := false
	for it, cmd := range cmds {
		switch prev, err := cmd.Result(); {
		case errors.Is(err, redis.Nil):
			it.claimed = true
		case prev == markPending:
			inFlight = true
		default:
			it.duplicate = true
		}
	}
	if inFlight {
		c.release(items)
		return fmt.Errorf("%w: an event of this request is being written by another request", errUnavailable)
	}
	return nil
}

// release forgets the claims of a request whose write failed.
func (c *Collector) release(items []*item) {
	var keys []string
	for _, it := range items {
		if it.claimed {
			keys = append(keys, it.seen)
			it.claimed = false
		}
	}
	if len(keys) == 0 {
		return
	}
	// Not the request's context: a client that went away must not leave claims
	// behind. Release one key at a time so it works across cluster slots.
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.logFailure("release claims; they expire by themselves", err)
	}
}

// remember marks the events Kafka acknowledged done and stores the identity
// links they establish. Failing here loses nothing: Kafka has the events.
func (c *Collector) remember(ctx context.Context, items []*item) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	var written []*item
	for _, it := range items {
		if it.claimed && it.written {
			pipe.Set(ctx, it.seen, markDone, c.cfg.DedupWindow)
			written = append(written, it)
		}
	}
	for anon, user := range batchLinks(written) {
		pipe.SAdd(ctx, linksKey(user), event.CustomerID("", anon))
		pipe.Set(ctx, linkKey(anon), user, 0)
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.logFailure("remember written events", err)
	}
}
