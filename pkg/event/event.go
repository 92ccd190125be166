// Package event defines segflow's canonical events: the CloudEvent types the
// pipeline understands, the topic each one travels on, and validation of their
// data against the JSON Schemas in schemas/.
//
// Every event is a CloudEvent whose type is segflow.<topic>.<action>, whose data
// is a JSON object described by schemas/segflow.<topic>.<action>.json, and whose
// partitionkey extension is the canonical customer id. The type alone decides the
// topic, so routing never needs to look inside the data.
package event

import (
	"fmt"
	"slices"
	"strings"
)

// Topics that carry customer events, and the dead-letter topic.
const (
	TopicBrowse   = "browse"
	TopicCart     = "cart"
	TopicPurchase = "purchase"
	TopicIdentify = "identify"
	TopicInvalid  = "events.invalid"
	// TopicProfiles carries profile.changed events from the profile-updater.
	TopicProfiles = "profiles"
	// TopicSummaries carries profile.summary events from the profile-updater:
	// what population views (pkg/view) follow.
	TopicSummaries = "profiles.summaries"
)

// Topics lists the topics that carry customer events.
var Topics = []string{TopicBrowse, TopicCart, TopicPurchase, TopicIdentify}

// CloudEvent types of customer events.
const (
	ProductViewed     = "segflow.browse.product_viewed"
	ProductListViewed = "segflow.browse.product_list_viewed"
	ProductsSearched  = "segflow.browse.products_searched"
	PageViewed        = "segflow.browse.page_viewed"
	Interaction       = "segflow.browse.interaction"

	ProductAdded    = "segflow.cart.product_added"
	ProductRemoved  = "segflow.cart.product_removed"
	CartViewed      = "segflow.cart.viewed"
	CheckoutStarted = "segflow.cart.checkout_started"
	WishlistAdded   = "segflow.cart.wishlist_added"

	OrderCompleted = "segflow.purchase.order_completed"
	OrderRefunded  = "segflow.purchase.order_refunded"

	Identify = "segflow.identify.identify"
	Alias    = "segflow.identify.alias"

	// Rejected is the type of dead letters on TopicInvalid.
	Rejected = "segflow.event.rejected"
	// ProfileChanged is the type of changes of a customer's NES stage, RFM
	// segment, tier or tags, on TopicProfiles.
	ProfileChanged = "segflow.profile.changed"
	// ProfileSummary is the type of a customer's segmentation inputs after an
	// evaluation (profile.Summary), on TopicSummaries, with the namespace
	// they were evaluated in (ExtNamespace).
	ProfileSummary = "segflow.profile.summary"
)

// Types lists every customer event type.
var Types = []string{
	ProductViewed, ProductListViewed, ProductsSearched, PageViewed, Interaction,
	ProductAdded, ProductRemoved, CartViewed, CheckoutStarted, WishlistAdded,
	OrderCompleted, OrderRefunded,
	Identify, Alias,
}

// Extension attributes segflow sets on every event it accepts.
const (
	// ExtPartitionKey is the canonical customer id; the CloudEvents Kafka
	// binding maps it to the message key.
	ExtPartitionKey = "partitionkey"
	// ExtReceivedAt is when the collector received the event (RFC 3339).
	ExtReceivedAt = "receivedat"
	// ExtChannel is where the event happened: web, app or pos. It is the data's
	// channel field when the producer set one, otherwise the source's default.
	ExtChannel = "channel"
	// ExtBackfill marks an event of the past: an imported historical order,
	// or a profile.changed computed by a replay. The trigger service sends
	// nothing for it: it records the campaigns a marked profile.changed would
	// enter as suppressed with reason backfill, and ignores other marked
	// events.
	ExtBackfill = "backfill"
	// ExtNamespace names the profile namespace a replay's profile.changed
	// was computed in: the index of another namespace leaves it out.
	ExtNamespace = "namespace"
)

// Merged returns the customer an identity event of type typ joins to its own
// customer: an identify's anonymous visitor, or the id an alias names as
// previous, both as anonymous customer ids; "" for other events and when the
// data names none. The profile-updater merges that profile into the event's
// customer, and the trigger service moves that customer's campaign state.
func Merged(typ, anonymousID, previousID string) string {
	switch typ {
	case Identify:
		return CustomerID("", anonymousID)
	case Alias:
		return CustomerID("", previousID)
	}
	return ""
}

// AnonymousPrefix marks a canonical customer id that is an anonymous id not yet
// linked to a user id, so the two id spaces never collide.
const AnonymousPrefix = "anon:"

// Channels where events happen.
const (
	ChannelWeb = "web"
	ChannelApp = "app"
	ChannelPOS = "pos"
)

// IsChannel tells whether s is one of the channels.
func IsChannel(s string) bool {
	return s == ChannelWeb || s == ChannelApp || s == ChannelPOS
}

// Topic returns the topic that carries events of type typ.
func Topic(typ string) (string, error) {
	if slices.Contains(Types, typ) {
		topic, _, _ := strings.Cut(strings.TrimPrefix(typ, "segflow."), ".")
		return topic, nil
	}
	return "", fmt.Errorf("unknown event type %q: want one of %s", typ, strings.Join(Types, ", "))
}

// CustomerID returns the canonical customer id for an event: the user id when it
// is known, otherwise the anonymous id marked with AnonymousPrefix.
func CustomerID(userID, anonymousID string) string {
	if userID != "" {
		return userID
	}
	if anonymousID == "" {
		return ""
	}
	return AnonymousPrefix + anonymousID
}
