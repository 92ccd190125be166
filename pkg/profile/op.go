package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
)

// Op kinds: what an event does to a profile.
const (
	opOrder  = "order"
	opRefund = "refund"
	opView   = "view"
	opBrowse = "browse"
	opCart   = "cart"
	opTraits = "traits"
	opMerge  = "merge"
	opNone   = "none" // re-evaluate only
)

// ErrCurrency marks an order or refund in another currency than the store's.
// Amounts in different currencies are never summed; such events are dead-lettered.
var ErrCurrency = errors.New("currency differs from the store currency")

// Op is one event's effect on one customer's profile.
type Op struct {
	Customer string
	Kind     string
	Time     time.Time
	// Cause names the event, for profile.changed: its CloudEvent id and type.
	CauseID, CauseType string
	// Backfill: the event is of the past (event.ExtBackfill), an imported
	// order; the changes it causes are marked so too.
	Backfill bool
	// Merge is a customer id (an anonymous visitor) this event links to
	// Customer; its profile is merged into Customer's.
	Merge string
	args  []string
	// traits an identify sets (consent is in args)
	traits []event.Trait
}

// OpOf decodes an event into its effect on the profile of the customer the
// event is keyed by. Money is converted exactly to micros; an order in another
// currency than currency is an ErrCurrency.
func OpOf(e cloudevents.Event, currency string) (Op, error) {
	op := Op{Kind: opNone, Time: e.Time(), CauseID: e.ID(), CauseType: e.Type(), Backfill: event.Backfill(e)}
	if k, ok := e.Extensions()[event.ExtPartitionKey].(string); ok {
		op.Customer = k
	}
	if op.Customer == "" {
		return op, fmt.Errorf("event %s has no customer (partitionkey)", e.ID())
	}
	if !op.Time.IsZero() {
		// The bounds the collector and the importer check, with the widest
		// skew they can be configured with.
		if err := event.CheckReceived(e, time.Now()); err != nil {
			return op, fmt.Errorf("event %s: %w", e.ID(), err)
		}
	}
	var d data
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		return op, fmt.Errorf("event %s: %w", e.ID(), err)
	}
	switch e.Type() {
	case event.OrderCompleted, event.OrderRefunded:
		if d.Currency != currency {
			return op, fmt.Errorf("event %s: %w: %s, store %s", e.ID(), ErrCurrency, d.Currency, currency)
		}
		amount, err := money.Parse(d.Total, d.Currency)
		if err == nil {
			err = money.CheckAmount(amount)
		}
		if err != nil {
			return op, fmt.Errorf("event %s: total: %w", e.ID(), err)
		}
		if e.Type() == event.OrderRefunded {
			// A refund is known by its event id: one order can be refunded in parts.
			op.Kind, op.args = opRefund, []string{e.ID(), fmt.Sprint(int64(amount))}
			break
		}
		op.Kind, op.args = opOrder, []string{d.OrderID, fmt.Sprint(int64(amount))}
		for _, it := range d.Items {
			if it.SKU != "" {
				op.args = append(op.args, "s:"+it.SKU)
			}
			if it.Category != "" {
				op.args = append(op.args, "c:"+it.Category)
			}
		}
	case event.ProductViewed:
		op.Kind, op.args = opView, []string{d.Product.SKU, d.Product.Category}
	case event.ProductListViewed:
		op.Kind, op.args = opView, []string{"", d.Category}
	case event.ProductsSearched, event.PageViewed, event.Interaction:
		op.Kind = opBrowse
	case event.ProductAdded, event.ProductRemoved:
		qty := d.Quantity
		if qty <= 0 {
			qty = 1
		}
		if e.Type() == event.ProductRemoved {
			qty = 0
		}
		cur := d.Currency
		if d.Product.Currency != "" {
			cur = d.Product.Currency
		}
		if cur == "" {
			cur = currency
		}
		var price money.Micros
		if len(d.Product.Price) > 0 {
			p, err := money.Parse(d.Product.Price, cur)
			if err == nil {
				err = money.CheckAmount(p)
			}
			if err != nil {
				return op, fmt.Errorf("event %s: price: %w", e.ID(), err)
			}
			price = p
		}
		op.Kind, op.args = opCart, []string{d.Product.SKU, fmt.Sprintf("%d|%d", qty, int64(price))}
	case event.CartViewed, event.CheckoutStarted, event.WishlistAdded:
		op.Kind = opCart
	case event.Alias:
		op.Kind = opTraits
		op.Merge = event.Merged(e.Type(), d.AnonymousID, d.PreviousID)
	case event.Identify:
		op.Kind = opTraits
		op.Merge = event.Merged(e.Type(), d.AnonymousID, d.PreviousID)
		if len(d.Traits) > 0 {
			// The bounds the collector checks: a producer may write to
			// Kafka directly.
			traits, errs := event.Traits("/data/traits", d.Traits, nil)
			if len(errs) > 0 {
				return op, fmt.Errorf("event %s: %w", e.ID(), &event.InvalidError{Errors: errs})
			}
			op.traits = traits
		}
		for name, v := range d.Consent {
			op.args = append(op.args, "consent."+name, fmt.Sprint(v))
		}
	}
	return op, nil
}

// data is what the profile reads of an event's data.
type data struct {
	OrderID     string          `json:"order_id"`
	AnonymousID string          `json:"anonymous_id"`
	PreviousID  string          `json:"previous_id"`
	Total       json.RawMessage `json:"total"`
	Currency    string          `json:"currency"`
	Items       []struct {
		SKU      string `json:"sku"`
		Category string `json:"category"`
	} `json:"items"`
	Product struct {
		SKU      string          `json:"sku"`
		Category string          `json:"category"`
		Price    json.RawMessage `json:"price"`
		Currency string          `json:"currency"`
	} `json:"product"`
	Category string          `json:"category"`
	Quantity int             `json:"quantity"`
	Traits   json.RawMessage `json:"traits"`
	Consent  map[string]bool `json:"consent"`
}
