package segment

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
)

// trackTypes maps normalized track event names of the Segment e-commerce
// spec (v2, and the v1 names it aliases) to segflow types.
var trackTypes = map[string]string{
	"productviewed":          event.ProductViewed,
	"viewedproduct":          event.ProductViewed,
	"productlistviewed":      event.ProductListViewed,
	"productcategoryviewed":  event.ProductListViewed,
	"viewedproductcategory":  event.ProductListViewed,
	"productssearched":       event.ProductsSearched,
	"productadded":           event.ProductAdded,
	"addedproduct":           event.ProductAdded,
	"productremoved":         event.ProductRemoved,
	"removedproduct":         event.ProductRemoved,
	"cartviewed":             event.CartViewed,
	"checkoutstarted":        event.CheckoutStarted,
	"startedorder":           event.CheckoutStarted,
	"productaddedtowishlist": event.WishlistAdded,
	"ordercompleted":         event.OrderCompleted,
	"completedorder":         event.OrderCompleted,
	"orderrefunded":          event.OrderRefunded,
}

// normalize folds an event name so "Product Viewed", "product_viewed" and
// "PRODUCT VIEWED" match.
func normalize(name string) string {
	return nameFolder.Replace(strings.ToLower(name))
}

var nameFolder = strings.NewReplacer(" ", "", "_", "")

// List limits of the schemas.
const (
	maxProducts = 1000
	maxItems    = 10000
)

// product is defs.json#/$defs/product.
type product struct {
	SKU       string `json:"sku"`
	ProductID string `json:"product_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Category  string `json:"category,omitempty"`
	Brand     string `json:"brand,omitempty"`
	Variant   string `json:"variant,omitempty"`
	Price     string `json:"price,omitempty"`
	Currency  string `json:"currency,omitempty"`
	URL       string `json:"url,omitempty"`
}

// lineItem is defs.json#/$defs/line_item.
type lineItem struct {
	product
	Quantity int `json:"quantity,omitempty"`
}

type productViewed struct {
	common
	Product product `json:"product"`
}

type productListViewed struct {
	common
	ListID   string    `json:"list_id,omitempty"`
	Category string    `json:"category,omitempty"`
	Products []product `json:"products,omitempty"`
}

type productsSearched struct {
	common
	Query string `json:"query"`
}

type interaction struct {
	common
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

type cartProduct struct {
	common
	CartID    string  `json:"cart_id,omitempty"`
	CartValue string  `json:"cart_value,omitempty"`
	Currency  string  `json:"currency,omitempty"`
	Product   product `json:"product"`
	Quantity  int     `json:"quantity,omitempty"`
}

type cartViewed struct {
	common
	CartID    string     `json:"cart_id,omitempty"`
	CartValue string     `json:"cart_value,omitempty"`
	Currency  string     `json:"currency,omitempty"`
	Products  []lineItem `json:"products,omitempty"`
}

type checkoutStarted struct {
	common
	CartID    string     `json:"cart_id,omitempty"`
	CartValue string     `json:"cart_value,omitempty"`
	Currency  string     `json:"currency,omitempty"`
	OrderID   string     `json:"order_id,omitempty"`
	Products  []lineItem `json:"products,omitempty"`
}

type wishlistAdded struct {
	common
	WishlistID string  `json:"wishlist_id,omitempty"`
	Product    product `json:"product"`
}

type order struct {
	common
	OrderID  string     `json:"order_id"`
	Total    string     `json:"total"`
	Currency string     `json:"currency"`
	Items    []lineItem `json:"items,omitempty"`
	Coupon   string     `json:"coupon,omitempty"`
	Discount string     `json:"discount,omitempty"`
	Shipping string     `json:"shipping,omitempty"`
	Tax      string     `json:"tax,omitempty"`
}

// track maps a track call: e-commerce events to their segflow types, any
// other event to an interaction under its own name.
func track(m, props object, c common, defaultCurrency string) (string, any) {
	name := m.str("event", 0)
	if strings.TrimSpace(name) == "" {
		if !m.r.hasErr("/event") {
			m.r.fail("/event", "required", "is required: the name of what the customer did")
		}
		return event.Interaction, nil
	}
	typ, ok := trackTypes[normalize(name)]
	if !ok {
		return event.Interaction, interactionOf(m, props, c, name)
	}
	cur := props.currency("currency")
	if cur == "" {
		cur = defaultCurrency
	}
	// given reports the currency only where the event carries an amount or
	// the client named one.
	given := func(amounts ...string) string {
		if props.has("currency") {
			return cur
		}
		for _, a := range amounts {
			if a != "" {
				return cur
			}
		}
		return ""
	}

	switch typ {
	case event.ProductViewed:
		return typ, productViewed{common: c, Product: readProduct(props, cur)}
	case event.ProductListViewed:
		d := productListViewed{common: c, ListID: props.text("list_id", 0), Category: props.text("category", maxName)}
		for _, it := range lineItems(props, "products", maxProducts, cur) {
			d.Products = append(d.Products, it.product)
		}
		return typ, d
	case event.ProductsSearched:
		return typ, productsSearched{common: c, Query: query(props)}
	case event.ProductAdded, event.ProductRemoved:
		d := cartProduct{
			common:    c,
			CartID:    props.id("cart_id"),
			CartValue: cartValue(props),
			Product:   readProduct(props, cur),
			Quantity:  props.quantity("quantity"),
		}
		d.Currency = given(d.CartValue, d.Product.Price)
		return typ, d
	case event.CartViewed:
		d := cartViewed{common: c, CartID: props.id("cart_id"), CartValue: cartValue(props)}
		d.Products = lineItems(props, "products", maxProducts, cur)
		d.Currency = given(append(prices(d.Products), d.CartValue)...)
		return typ, d
	case event.CheckoutStarted:
		d := checkoutStarted{common: c, CartID: props.id("cart_id"), CartValue: cartValue(props), OrderID: props.id("order_id")}
		d.Products = lineItems(props, "products", maxProducts, cur)
		d.Currency = given(append(prices(d.Products), d.CartValue)...)
		return typ, d
	case event.WishlistAdded:
		return typ, wishlistAdded{common: c, WishlistID: props.id("wishlist_id"), Product: readProduct(props, cur)}
	default: // OrderCompleted, OrderRefunded
		d := order{common: c, OrderID: props.id("order_id"), Currency: cur}
		if d.OrderID == "" && !m.r.hasErr(props.path("order_id")) {
			m.r.fail(props.path("order_id"), "required", "is required")
		}
		d.Items = lineItems(props, "products", maxItems, cur)
		d.Total = total(props, d.Items)
		if typ == event.OrderCompleted {
			d.Coupon = props.text("coupon", maxTag)
			d.Discount = props.money("discount")
			d.Shipping = props.money("shipping")
			d.Tax = props.money("tax")
		}
		return typ, d
	}
}

// interactionOf keeps any other track event under its own name, with its
// properties as sent: numbers are kept as written, never rounded through a
// float.
func interactionOf(m, props object, c common, name string) interaction {
	d := interaction{common: c, Name: m.str("event", maxTag)}
	if raw := m.raw("properties"); raw != nil && !m.r.hasErr("/properties") {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&d.Properties); err != nil {
			m.r.fail(props.ptr, "type", "must be an object")
		}
	}
	return d
}

// readProduct reads a product from a flat properties object or an element of
// a products array. sku falls back to product_id; prices without a currency
// of their own are in cur.
func readProduct(o object, cur string) product {
	p := product{
		SKU:       o.id("sku"),
		ProductID: o.id("product_id"),
		Name:      o.text("name", maxName),
		Category:  o.text("category", maxName),
		Brand:     o.text("brand", maxTag),
		Variant:   o.text("variant", maxTag),
		Price:     o.money("price"),
		Currency:  o.currency("currency"),
		URL:       o.str("url", maxURL),
	}
	if p.SKU == "" {
		p.SKU = p.ProductID
	}
	if p.SKU == "" && !o.r.hasErr(o.path("sku")) && !o.r.hasErr(o.path("product_id")) {
		o.r.fail(o.path("sku"), "required", "is required: send sku or product_id")
	}
	if p.Currency == "" && p.Price != "" {
		p.Currency = cur
	}
	return p
}

// lineItems reads the products array at key.
func lineItems(o object, key string, max int, cur string) []lineItem {
	var items []lineItem
	for i, raw := range o.arr(key, max) {
		it := o.r.objectAt(o.index(key, i), raw)
		if it.fields == nil {
			if !it.r.hasErr(it.ptr) {
				it.r.fail(it.ptr, "type", "must be an object")
			}
			continue
		}
		items = append(items, lineItem{product: readProduct(it, cur), Quantity: it.quantity("quantity")})
	}
	return items
}

func prices(items []lineItem) []string {
	p := make([]string, len(items))
	for i, it := range items {
		p[i] = it.Price
	}
	return p
}

// cartValue reads the value of a cart: cart_value, else value as the Segment
// spec names it.
func cartValue(props object) string {
	if props.has("cart_value") {
		return props.money("cart_value")
	}
	return props.money("value")
}

// query reads the search query, which the Segment spec allows to be an
// object; one is kept as its JSON text.
func query(props object) string {
	key := "query"
	raw := props.raw(key)
	var q string
	if raw != nil && kind(raw) != '"' {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			q = props.limit(key, b.String(), maxName)
		}
	} else {
		q = props.str(key, maxName)
	}
	if strings.TrimSpace(q) == "" && !props.r.hasErr(props.path(key)) {
		props.r.fail(props.path(key), "required", "is required: what the customer searched for")
	}
	return q
}

// total reads an order's total: total, else revenue, else the sum of its
// products' price × quantity.
func total(props object, items []lineItem) string {
	for _, key := range []string{"total", "revenue"} {
		if props.has(key) {
			return props.money(key)
		}
	}
	field := props.path("total")
	if len(items) == 0 {
		props.r.fail(field, "required", "is required: send total, revenue, or products with prices")
		return ""
	}
	sum := new(big.Int)
	for _, it := range items {
		if it.Price == "" {
			// A product whose price was rejected is reported already.
			if !props.r.hasErrUnder(props.path("products")) {
				props.r.fail(field, "required", "is required: send total, revenue, or a price for every product")
			}
			return ""
		}
		p, err := money.ParseDecimal(it.Price)
		if err != nil {
			props.r.fail(field, "money", "the sum of the products is out of range: %v", err)
			return ""
		}
		q := int64(max(it.Quantity, 1))
		sum.Add(sum, new(big.Int).Mul(big.NewInt(int64(p)), big.NewInt(q)))
	}
	if !sum.IsInt64() || money.CheckAmount(money.Micros(sum.Int64())) != nil {
		props.r.fail(field, "money", "the sum of the products is above %s, the largest amount", money.MaxAmount)
		return ""
	}
	return money.Micros(sum.Int64()).String()
}
