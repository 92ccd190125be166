package e2e

import (
	"context"
	"testing"
	"time"
)

// TestACartAddedJustBeforeAnOrderIsEmptiedByItThroughThePipeline sends, as a
// browser library would, a cart add whose request spends 3 s on a slow
// network and the order the shopper made 2 ms later, sent from the library's
// queue just now in a fast request, through the collector and the
// profile-updater on redis-server. The browser's clock is the collector's.
// The order empties the cart: cart_items is 0. Corrected per request, the
// add landed 3 s after the order and the cart kept its item.
func TestACartAddedJustBeforeAnOrderIsEmptiedByItThroughThePipeline(t *testing.T) {
	p := startPipeline(t, time.Now, "USD")
	const customer = "order-keeper"
	product := map[string]any{"product_id": "P-1", "sku": "JACKET", "price": 59.9, "currency": "USD"}
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

	added := time.Now().Add(-3 * time.Second)
	ordered := added.Add(2 * time.Millisecond)
	add := map[string]any{"type": "track", "messageId": "keeper-add", "userId": customer, "event": "Product Added",
		"properties": map[string]any{"cart_id": "c-keeper", "product_id": "P-1", "sku": "JACKET", "price": 59.9, "quantity": 1},
		"timestamp":  at(added), "sentAt": at(added.Add(time.Millisecond))}
	if n, rejected := p.segmentBatch(t, []map[string]any{add}); n != 1 {
		t.Fatalf("the add: %v", rejected)
	}
	order := map[string]any{"type": "track", "messageId": "keeper-order", "userId": customer, "event": "Order Completed",
		"properties": map[string]any{"order_id": "o-keeper", "total": 59.9, "currency": "USD", "products": []any{product}},
		"timestamp":  at(ordered), "sentAt": at(time.Now())}
	if n, rejected := p.segmentBatch(t, []map[string]any{order}); n != 1 {
		t.Fatalf("the order: %v", rejected)
	}
	p.waitApplied(t, 2, 30*time.Second)

	ps, err := p.store.Get(context.Background(), time.Now(), []string{customer})
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0]; got.Orders != 1 || got.CartItems != 0 || got.CartValue != 0 {
		t.Errorf("orders %d, cart_items %d, cart_value %d; want the order and an empty cart", got.Orders, got.CartItems, got.CartValue)
	}
}
