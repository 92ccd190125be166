package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/event"
)

// received is when the collector received every request in these tests.
var received = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

var testOpts = Options{Source: "/sources/web", ReceivedAt: received}

var validator = sync.OnceValues(event.NewValidator)

// checkValid fails the test unless e is a valid CloudEvent whose data
// validates against the schema of its type.
func checkValid(t testing.TB, e cloudevents.Event) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("invalid CloudEvent: %v", err)
	}
	v, err := validator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(e.Type(), e.Data()); err != nil {
		t.Fatalf("%s data %s breaks its schema: %v", e.Type(), e.Data(), err)
	}
}

// sameJSON fails the test unless got and want hold the same JSON value, with
// numbers compared as written.
func sameJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return v
	}
	if !reflect.DeepEqual(decode(got), decode([]byte(want))) {
		t.Errorf("data\n got: %s\nwant: %s", got, want)
	}
}

// msg is a minimal message from an anonymous visitor with the given members.
func msg(members string) string {
	return `{"messageId":"m-1","anonymousId":"anon-1",` + members + `}`
}

// base is the data msg's common fields map to.
const base = `"anonymous_id":"anon-1","channel":"web"`

// mappingTests are messages as clients send them and the data each maps to.
// FuzzToEvent seeds its corpus with them.
var mappingTests = []struct {
	name     string
	msg      string
	wantType string
	wantData string
}{
	{
		name: "an analytics.js Product Viewed keeps the product, page, campaign and harmless context but not ip or user agent",
		msg: `{
		  "_metadata": {"bundled": ["Segment.io"], "bundledIds": [], "unbundled": []},
		  "anonymousId": "5d7e9c75-cee0-4e01-9714-3db67d871caf",
		  "channel": "client",
		  "context": {
		    "campaign": {"source": "newsletter", "medium": "email", "name": "may_sale"},
		    "ip": "74.125.210.177",
		    "library": {"name": "analytics.js", "version": "next-1.70.0"},
		    "locale": "zh-TW",
		    "page": {"path": "/p/down-jacket", "referrer": "https://www.google.com/", "search": "", "title": "Down Jacket", "url": "https://shop.example.com/p/down-jacket"},
		    "timezone": "Asia/Taipei",
		    "traits": {"email": "mei@example.com"},
		    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
		  },
		  "event": "Product Viewed",
		  "integrations": {},
		  "messageId": "ajs-next-fe03a1d53ce5864987388e42d40175fe",
		  "properties": {
		    "product_id": "507f1f77bcf86cd799439011", "sku": "G-32", "category": "Outerwear", "name": "Down Jacket",
		    "brand": "Northwind", "variant": "black", "price": 129.99, "quantity": 1, "position": 3,
		    "url": "https://shop.example.com/p/down-jacket", "image_url": "https://shop.example.com/img/down-jacket.jpg"
		  },
		  "timestamp": "2024-05-01T11:59:58.000Z",
		  "sentAt": "2024-05-01T11:59:58.100Z",
		  "type": "track",
		  "userId": null
		}`,
		wantType: event.ProductViewed,
		wantData: `{
		  "anonymous_id": "5d7e9c75-cee0-4e01-9714-3db67d871caf", "channel": "web",
		  "url": "https://shop.example.com/p/down-jacket", "referrer": "https://www.google.com/",
		  "campaign": {"source": "newsletter", "medium": "email", "name": "may_sale"},
		  "context": {"library": {"name": "analytics.js", "version": "next-1.70.0"}, "locale": "zh-TW", "timezone": "Asia/Taipei", "page": {"path": "/p/down-jacket"}},
		  "product": {
		    "sku": "G-32", "product_id": "507f1f77bcf86cd799439011", "name": "Down Jacket", "category": "Outerwear",
		    "brand": "Northwind", "variant": "black", "price": "129.99", "currency": "USD",
		    "url": "https://shop.example.com/p/down-jacket"
		  }
		}`,
	},
	{
		name:     "a snake_case product_viewed with only an integer product_id uses it as the sku",
		msg:      msg(`"type":"track","event":"product_viewed","properties":{"product_id":12345}`),
		wantType: event.ProductViewed,
		wantData: `{` + base + `,"product":{"sku":"12345","product_id":"12345"}}`,
	},
	{
		name:     "an upper-case PRODUCT VIEWED is a product view",
		msg:      msg(`"type":"track","event":"PRODUCT VIEWED","properties":{"sku":"G-32"}`),
		wantType: event.ProductViewed,
		wantData: `{` + base + `,"product":{"sku":"G-32"}}`,
	},
	{
		name:     "the e-commerce v1 name Viewed Product is a product view",
		msg:      msg(`"type":"track","event":"Viewed Product","properties":{"sku":"G-32"}`),
		wantType: event.ProductViewed,
		wantData: `{` + base + `,"product":{"sku":"G-32"}}`,
	},
	{
		name: "Product List Viewed keeps the list and its products",
		msg: msg(`"type":"track","event":"Product List Viewed","properties":{"list_id":"hot_deals_1","category":"Deals","products":[
			{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition","price":19,"position":1,"category":"Games","url":"https://www.example.com/product/path","image_url":"https://www.example.com/product/path.jpg"},
			{"product_id":"505bd76785ebb509fc183733","sku":"46493-32","name":"Uno Card Game","price":3,"position":2,"category":"Games"}]}`),
		wantType: event.ProductListViewed,
		wantData: `{` + base + `,"list_id":"hot_deals_1","category":"Deals","products":[
			{"sku":"45790-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","category":"Games","price":"19","currency":"USD","url":"https://www.example.com/product/path"},
			{"sku":"46493-32","product_id":"505bd76785ebb509fc183733","name":"Uno Card Game","category":"Games","price":"3","currency":"USD"}]}`,
	},
	{
		name:     "Product Category Viewed is a product list view",
		msg:      msg(`"type":"track","event":"Product Category Viewed","properties":{"category":"Outerwear"}`),
		wantType: event.ProductListViewed,
		wantData: `{` + base + `,"category":"Outerwear"}`,
	},
	{
		name:     "Products Searched keeps the query",
		msg:      msg(`"type":"track","event":"Products Searched","properties":{"query":"blue roses"}`),
		wantType: event.ProductsSearched,
		wantData: `{` + base + `,"query":"blue roses"}`,
	},
	{
		name:     "Products Searched with a structured query keeps it as JSON text",
		msg:      msg(`"type":"track","event":"Products Searched","properties":{"query":{"q":"jacket", "size": 2}}`),
		wantType: event.ProductsSearched,
		wantData: `{` + base + `,"query":"{\"q\":\"jacket\",\"size\":2}"}`,
	},
	{
		name:     "Product Added keeps the cart, the product and the quantity, with the amounts' currency",
		msg:      msg(`"type":"track","event":"Product Added","properties":{"cart_id":"skdjsidjsdkdj29j","product_id":"507f1f77bcf86cd799439011","sku":"G-32","category":"Games","name":"Monopoly: 3rd Edition","brand":"Hasbro","variant":"200 pieces","price":18.99,"quantity":2,"coupon":"MAYDEALS","position":3}`),
		wantType: event.ProductAdded,
		wantData: `{` + base + `,"cart_id":"skdjsidjsdkdj29j","currency":"USD","quantity":2,"product":{"sku":"G-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","category":"Games","brand":"Hasbro","variant":"200 pieces","price":"18.99","currency":"USD"}}`,
	},
	{
		name:     "Product Added rounds a JavaScript float sum in the cart value exactly",
		msg:      msg(`"type":"track","event":"Product Added","properties":{"sku":"TEA-1","price":0.1,"cart_value":0.30000000000000004,"currency":"eur"}`),
		wantType: event.ProductAdded,
		wantData: `{` + base + `,"cart_value":"0.3","currency":"EUR","product":{"sku":"TEA-1","price":"0.1","currency":"EUR"}}`,
	},
	{
		name:     "Product Removed keeps the cart and the product",
		msg:      msg(`"type":"track","event":"Product Removed","properties":{"cart_id":"c-9","sku":"G-32","quantity":1,"value":"37.98"}`),
		wantType: event.ProductRemoved,
		wantData: `{` + base + `,"cart_id":"c-9","cart_value":"37.98","currency":"USD","quantity":1,"product":{"sku":"G-32"}}`,
	},
	{
		name:     "Cart Viewed keeps the cart's line items",
		msg:      msg(`"type":"track","event":"Cart Viewed","properties":{"cart_id":"d92jd29jd92jd29j92d92jd","products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition","price":19,"position":1,"category":"Games"},{"sku":"46493-32","price":3,"quantity":2}]}`),
		wantType: event.CartViewed,
		wantData: `{` + base + `,"cart_id":"d92jd29jd92jd29j92d92jd","currency":"USD","products":[{"sku":"45790-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","category":"Games","price":"19","currency":"USD"},{"sku":"46493-32","price":"3","currency":"USD","quantity":2}]}`,
	},
	{
		name:     "Cart Viewed of an empty cart names no currency",
		msg:      msg(`"type":"track","event":"Cart Viewed","properties":{"cart_id":"c-1","products":[]}`),
		wantType: event.CartViewed,
		wantData: `{` + base + `,"cart_id":"c-1"}`,
	},
	{
		name: "Checkout Started keeps the order id, the value and the products",
		msg: msg(`"type":"track","event":"Checkout Started","properties":{"order_id":"50314b8e9bcf000000000000","affiliation":"Google Store","value":30,"revenue":25.00,"shipping":3,"tax":2,"discount":2.5,"coupon":"hasbros","currency":"USD","products":[
			{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition","price":19,"quantity":1,"category":"Games"},
			{"product_id":"505bd76785ebb509fc183733","sku":"46493-32","name":"Uno Card Game","price":3,"quantity":2,"category":"Games"}]}`),
		wantType: event.CheckoutStarted,
		wantData: `{` + base + `,"order_id":"50314b8e9bcf000000000000","cart_value":"30","currency":"USD","products":[
			{"sku":"45790-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","category":"Games","price":"19","currency":"USD","quantity":1},
			{"sku":"46493-32","product_id":"505bd76785ebb509fc183733","name":"Uno Card Game","category":"Games","price":"3","currency":"USD","quantity":2}]}`,
	},
	{
		name:     "Product Added to Wishlist keeps the wishlist and the product",
		msg:      msg(`"type":"track","event":"Product Added to Wishlist","properties":{"wishlist_id":"skdjsidjsdkdj29j","wishlist_name":"Loved Games","product_id":"507f1f77bcf86cd799439011","sku":"G-32","name":"Monopoly: 3rd Edition","price":18.99}`),
		wantType: event.WishlistAdded,
		wantData: `{` + base + `,"wishlist_id":"skdjsidjsdkdj29j","product":{"sku":"G-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","price":"18.99","currency":"USD"}}`,
	},
	{
		name: "Order Completed keeps the total, items, coupon, discount, shipping and tax",
		msg: `{"userId":"u-42","messageId":"m-2","type":"track","event":"Order Completed","properties":{"checkout_id":"fksdjfsdjfisjf9sdfjsd9f","order_id":"50314b8e9bcf000000000000","affiliation":"Google Store","total":27.50,"subtotal":22.50,"revenue":25.00,"shipping":3,"tax":2,"discount":2.5,"coupon":"hasbros","currency":"USD","products":[
			{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition","price":19,"quantity":1,"category":"Games"},
			{"product_id":"505bd76785ebb509fc183733","sku":"46493-32","name":"Uno Card Game","price":3,"quantity":2,"category":"Games"}]}}`,
		wantType: event.OrderCompleted,
		wantData: `{"user_id":"u-42","channel":"web","order_id":"50314b8e9bcf000000000000","total":"27.5","currency":"USD","coupon":"hasbros","discount":"2.5","shipping":"3","tax":"2","items":[
			{"sku":"45790-32","product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","category":"Games","price":"19","currency":"USD","quantity":1},
			{"sku":"46493-32","product_id":"505bd76785ebb509fc183733","name":"Uno Card Game","category":"Games","price":"3","currency":"USD","quantity":2}]}`,
	},
	{
		name:     "Order Completed without a total takes the revenue, sent as a string",
		msg:      msg(`"type":"track","event":"Order Completed","properties":{"order_id":"o-1","currency":"USD","product":"Sample","revenue":"14.99"}`),
		wantType: event.OrderCompleted,
		wantData: `{` + base + `,"order_id":"o-1","total":"14.99","currency":"USD"}`,
	},
	{
		name:     "Order Completed without a total or revenue sums its products' price times quantity",
		msg:      msg(`"type":"track","event":"Order Completed","properties":{"order_id":"o-2","products":[{"sku":"a","price":19,"quantity":1},{"sku":"b","price":3,"quantity":2},{"sku":"c","price":0.1}]}`),
		wantType: event.OrderCompleted,
		wantData: `{` + base + `,"order_id":"o-2","total":"25.1","currency":"USD","items":[{"sku":"a","price":"19","currency":"USD","quantity":1},{"sku":"b","price":"3","currency":"USD","quantity":2},{"sku":"c","price":"0.1","currency":"USD"}]}`,
	},
	{
		name:     "Order Completed takes the default currency when it names none",
		msg:      msg(`"type":"track","event":"Order Completed","properties":{"order_id":1001,"total":0.30000000000000004}`),
		wantType: event.OrderCompleted,
		wantData: `{` + base + `,"order_id":"1001","total":"0.3","currency":"USD"}`,
	},
	{
		name:     "a shop's POS order in yen keeps its channel and its whole-yen total",
		msg:      `{"userId":"member-77","messageId":"pos-5531","type":"track","event":"Order Completed","properties":{"channel":"pos","order_id":"T-5531","total":1250,"currency":"jpy","products":[{"sku":"ONIGIRI","price":250,"quantity":5}]},"context":{"library":{"name":"analytics-python","version":"2.3.2"}},"timestamp":"2024-05-01T18:30:00+09:00"}`,
		wantType: event.OrderCompleted,
		wantData: `{"user_id":"member-77","channel":"pos","context":{"library":{"name":"analytics-python","version":"2.3.2"}},"order_id":"T-5531","total":"1250","currency":"JPY","items":[{"sku":"ONIGIRI","price":"250","currency":"JPY","quantity":5}]}`,
	},
	{
		name:     "Order Refunded keeps the refunded total and items",
		msg:      `{"userId":"u-42","messageId":"m-3","type":"track","event":"Order Refunded","properties":{"order_id":"50314b8e9bcf000000000000","total":30,"currency":"USD","products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","price":19,"quantity":1}]}}`,
		wantType: event.OrderRefunded,
		wantData: `{"user_id":"u-42","channel":"web","order_id":"50314b8e9bcf000000000000","total":"30","currency":"USD","items":[{"sku":"45790-32","product_id":"507f1f77bcf86cd799439011","price":"19","currency":"USD","quantity":1}]}`,
	},
	{
		name:     "any other track event is an interaction under its own name with its numbers exactly as sent",
		msg:      msg(`"type":"track","event":"Coupon Applied","properties":{"order_id":"50314b8e9bcf000000000000","coupon_id":"may_deals_2016","discount":23.32,"sum":0.30000000000000004,"big":12345678901234567890,"tags":["a",1.50]}`),
		wantType: event.Interaction,
		wantData: `{` + base + `,"name":"Coupon Applied","properties":{"order_id":"50314b8e9bcf000000000000","coupon_id":"may_deals_2016","discount":23.32,"sum":0.30000000000000004,"big":12345678901234567890,"tags":["a",1.50]}}`,
	},
	{
		name:     "an interaction without properties has only its name",
		msg:      msg(`"type":"track","event":"Signed Up"`),
		wantType: event.Interaction,
		wantData: `{` + base + `,"name":"Signed Up"}`,
	},
	{
		name: "an analytics.js page call is a page view with its name, title, path, url and referrer",
		msg: `{"anonymousId":"0603629a-4f93-4c63-9464-06bc8a24dfae","channel":"client","context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"locale":"en-US","page":{"path":"/sale","referrer":"","search":"?utm_source=line","title":"Spring Sale","url":"https://shop.example.com/sale?utm_source=line"},"campaign":{"source":"line"},"userAgent":"Mozilla/5.0"},
			"integrations":{},"messageId":"ajs-next-391a4cc49cb833762daa05c3c0ba8198","name":"Sale","properties":{"name":"Sale","path":"/sale","referrer":"","search":"?utm_source=line","title":"Spring Sale","url":"https://shop.example.com/sale?utm_source=line"},
			"timestamp":"2024-05-01T11:59:59.000Z","sentAt":"2024-05-01T11:59:59.010Z","type":"page","userId":null}`,
		wantType: event.PageViewed,
		wantData: `{"anonymous_id":"0603629a-4f93-4c63-9464-06bc8a24dfae","channel":"web","url":"https://shop.example.com/sale?utm_source=line","campaign":{"source":"line"},"context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"locale":"en-US","page":{"path":"/sale"}},"name":"Sale","title":"Spring Sale","path":"/sale"}`,
	},
	{
		name:     "a page call without properties takes the page from the context",
		msg:      msg(`"type":"page","context":{"page":{"path":"/","title":"Home","url":"https://shop.example.com/","referrer":"https://www.bing.com/"}}`),
		wantType: event.PageViewed,
		wantData: `{` + base + `,"url":"https://shop.example.com/","referrer":"https://www.bing.com/","context":{"page":{"path":"/"}},"title":"Home","path":"/"}`,
	},
	{
		name: "a RudderStack Android screen call is a page view in the app",
		msg: `{"anonymousId":"7e32188a4dab669f","channel":"mobile","context":{"app":{"build":"1","name":"RudderAndroidClient","namespace":"com.rudderstack.demo.android","version":"1.0"},"device":{"id":"7e32188a4dab669f","manufacturer":"Google","model":"Android SDK built for x86","name":"generic_x86","type":"android"},"library":{"name":"com.rudderstack.android.sdk.core","version":"1.20.1"},"locale":"en-US","network":{"carrier":"Android","wifi":true},"os":{"name":"Android","version":"9"},"screen":{"density":420,"height":1794,"width":1080},"timezone":"Asia/Kolkata","traits":{"anonymousId":"7e32188a4dab669f"},"userAgent":"Dalvik/2.1.0 (Linux; U; Android 9)"},
			"event":"Home","integrations":{"All":true},"messageId":"1578564113557-af022c68-429e-4af4-8a0d-aa7dbbd6e2d1","name":"Home","properties":{"name":"Home"},"originalTimestamp":"2024-05-01T11:59:00.000Z","sentAt":"2024-05-01T11:59:30.000Z","rudderId":"90ca6da0-292e-4e79-9880-f8009e0ae4a3","type":"screen"}`,
		wantType: event.PageViewed,
		wantData: `{"anonymous_id":"7e32188a4dab669f","channel":"app","context":{"app":{"build":"1","name":"RudderAndroidClient","namespace":"com.rudderstack.demo.android","version":"1.0"},"device":{"type":"android"},"library":{"name":"com.rudderstack.android.sdk.core","version":"1.20.1"},"locale":"en-US","os":{"name":"Android","version":"9"},"timezone":"Asia/Kolkata"},"name":"Home"}`,
	},
	{
		name: "an identify call keeps every trait, nested ones by dotted names, and consent apart",
		msg: `{"anonymousId":"d1e2d51e-b8e1-4eeb-9c70-887db0fa8e88","userId":"ba3095ca044ec986","messageId":"ajs-next-932c60cf2389e68722fd266c69e0c8ae","type":"identify","channel":"client",
			"context":{"ip":"104.28.34.163","library":{"name":"analytics.js","version":"next-1.70.0"},"locale":"zh-TW","timezone":"Asia/Taipei"},
			"traits":{"email":"mei@example.com","phone":"+886912345678","firstName":"Mei","address":{"city":"Taipei"},"birthday":"1990-05-17","tier":"gold","consent":{"email":true,"sms":false,"whatsapp":true}},
			"timestamp":"2024-05-01T11:59:59.000Z","sentAt":"2024-05-01T11:59:59.000Z"}`,
		wantType: event.Identify,
		wantData: `{"user_id":"ba3095ca044ec986","anonymous_id":"d1e2d51e-b8e1-4eeb-9c70-887db0fa8e88","channel":"web","context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"locale":"zh-TW","timezone":"Asia/Taipei"},
			"traits":{"email":"mei@example.com","phone":"+886912345678","first_name":"Mei","address.city":"Taipei","birthday":"1990-05-17","timezone":"Asia/Taipei","tier":"gold"},"consent":{"email":true,"sms":false}}`,
	},
	{
		name:     "a RudderStack identify reads traits from the context and a birthday datetime as its date",
		msg:      `{"userId":"27340af5c8819","anonymousId":"7e32188a4dab669f","messageId":"r-1","type":"identify","channel":"web","context":{"library":{"name":"RudderLabs JavaScript SDK","version":"3.7.0"},"traits":{"email":"rhendricks@example.com","birthday":"1990-05-17T00:00:00.000Z","member_tier":"silver"},"timezone":"Europe/Berlin"}}`,
		wantType: event.Identify,
		wantData: `{"user_id":"27340af5c8819","anonymous_id":"7e32188a4dab669f","channel":"web","context":{"library":{"name":"RudderLabs JavaScript SDK","version":"3.7.0"},"timezone":"Europe/Berlin"},"traits":{"email":"rhendricks@example.com","birthday":"1990-05-17","timezone":"Europe/Berlin","tier":"silver"}}`,
	},
	{
		name:     "an identify with a year-less birthday keeps it and takes consent from the context",
		msg:      `{"userId":"u-7","messageId":"m-7","type":"identify","traits":{"birthday":"--02-29","timezone":"Asia/Tokyo"},"context":{"consent":{"line":true,"push":false,"categoryPreferences":{"Advertising":true}}}}`,
		wantType: event.Identify,
		wantData: `{"user_id":"u-7","channel":"web","traits":{"birthday":"--02-29","timezone":"Asia/Tokyo"},"consent":{"line":true,"push":false}}`,
	},
	{
		name:     "an identify with traits at the top level prefers them to those in the context",
		msg:      `{"userId":"u-8","messageId":"m-8","type":"identify","traits":{"email":"new@example.com","consent":{"email":false}},"context":{"traits":{"email":"old@example.com","phone":"0912"},"consent":{"email":true}}}`,
		wantType: event.Identify,
		wantData: `{"user_id":"u-8","channel":"web","traits":{"email":"new@example.com","phone":"0912"},"consent":{"email":false}}`,
	},
	{
		name:     "an identify with a numeric user id stringifies it",
		msg:      `{"userId":42,"messageId":"m-9","type":"identify"}`,
		wantType: event.Identify,
		wantData: `{"user_id":"42","channel":"web"}`,
	},
	{
		name:     "an alias links the previous id to the user id",
		msg:      `{"userId":"u-42","previousId":"5d7e9c75-cee0-4e01-9714-3db67d871caf","messageId":"ajs-next-a1","type":"alias"}`,
		wantType: event.Alias,
		wantData: `{"user_id":"u-42","previous_id":"5d7e9c75-cee0-4e01-9714-3db67d871caf","channel":"web"}`,
	},
	{
		name:     "a message type is read case-insensitively",
		msg:      msg(`"type":"Track","event":"Signed Up"`),
		wantType: event.Interaction,
		wantData: `{` + base + `,"name":"Signed Up"}`,
	},
}

func TestToEventMapsEveryCall(t *testing.T) {
	for _, tt := range mappingTests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ToEvent(json.RawMessage(tt.msg), time.Time{}, testOpts)
			if err != nil {
				t.Fatalf("ToEvent: %v", err)
			}
			if e.Type() != tt.wantType {
				t.Errorf("type = %s, want %s", e.Type(), tt.wantType)
			}
			sameJSON(t, e.Data(), tt.wantData)
			checkValid(t, e)
		})
	}
}

func TestToEventSetsTheCloudEventAttributes(t *testing.T) {
	m := `{"userId":"u-42","anonymousId":"anon-1","messageId":"ajs-next-fe03","type":"track","event":"Product Viewed","properties":{"sku":"G-32"},"timestamp":"2024-05-01T11:58:00Z"}`
	e, err := ToEvent(json.RawMessage(m), time.Time{}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ attr, got, want string }{
		{"specversion", e.SpecVersion(), "1.0"},
		{"id", e.ID(), "ajs-next-fe03"},
		{"source", e.Source(), "/sources/web"},
		{"type", e.Type(), event.ProductViewed},
		{"time", e.Time().Format(time.RFC3339Nano), "2024-05-01T11:58:00Z"},
		{"datacontenttype", e.DataContentType(), "application/json"},
		{"dataschema", e.DataSchema(), "https://segflow.io/schemas/segflow.browse.product_viewed.json"},
		{"partitionkey", extension(e, event.ExtPartitionKey), "u-42"},
		{"receivedat", extension(e, event.ExtReceivedAt), "2024-05-01T12:00:00Z"},
		{"channel", extension(e, event.ExtChannel), "web"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.attr, c.got, c.want)
		}
	}
	if e.DataBase64 {
		t.Error("data is marked base64; structured mode would encode it")
	}
}

func extension(e cloudevents.Event, name string) string {
	v, _ := e.Extensions()[name].(string)
	return v
}

func TestToEventPartitionsAnonymousVisitorsByTheirMarkedId(t *testing.T) {
	e, err := ToEvent(json.RawMessage(msg(`"type":"page"`)), time.Time{}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := extension(e, event.ExtPartitionKey), "anon:anon-1"; got != want {
		t.Errorf("partitionkey = %q, want %q", got, want)
	}
}

func TestToEventCorrectsClockSkew(t *testing.T) {
	tests := []struct {
		name        string
		times       string
		batchSentAt time.Time
		maxSkew     time.Duration
		want        time.Time
	}{
		{
			name:  "a client clock ten minutes ahead of the server is shifted back",
			times: `"timestamp":"2024-05-01T12:09:55.000Z","sentAt":"2024-05-01T12:10:00.000Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 55, 0, time.UTC),
		},
		{
			name:  "a client clock behind the server is shifted forward",
			times: `"timestamp":"2024-05-01T11:49:50.250Z","sentAt":"2024-05-01T11:50:00.000Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 50, 250_000_000, time.UTC),
		},
		{
			name:  "an event queued offline for an hour keeps its age",
			times: `"timestamp":"2024-05-01T10:00:00Z","sentAt":"2024-05-01T11:00:00Z"`,
			want:  time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC),
		},
		{
			name:  "RudderStack's originalTimestamp is corrected the same way",
			times: `"originalTimestamp":"2024-05-01T12:09:55.000Z","sentAt":"2024-05-01T12:10:00.000Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 55, 0, time.UTC),
		},
		{
			name:  "the timestamp is preferred to originalTimestamp",
			times: `"timestamp":"2024-05-01T12:09:58Z","originalTimestamp":"2024-05-01T12:00:00Z","sentAt":"2024-05-01T12:10:00Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 58, 0, time.UTC),
		},
		{
			name:        "the batch's sentAt is used when the message has none",
			times:       `"timestamp":"2024-05-01T12:09:55Z"`,
			batchSentAt: time.Date(2024, 5, 1, 12, 10, 0, 0, time.UTC),
			want:        time.Date(2024, 5, 1, 11, 59, 55, 0, time.UTC),
		},
		{
			name:        "the message's own sentAt wins over the batch's",
			times:       `"timestamp":"2024-05-01T12:04:55Z","sentAt":"2024-05-01T12:05:00Z"`,
			batchSentAt: time.Date(2024, 5, 1, 12, 10, 0, 0, time.UTC),
			want:        time.Date(2024, 5, 1, 11, 59, 55, 0, time.UTC),
		},
		{
			name:  "a client whose clock is right keeps its timestamp, whatever the request's latency",
			times: `"timestamp":"2024-05-01T11:59:58.000Z","sentAt":"2024-05-01T11:59:58.010Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 58, 0, time.UTC),
		},
		{
			name:  "a clock 25 seconds fast is within half a unit and not corrected",
			times: `"timestamp":"2024-05-01T12:00:20Z","sentAt":"2024-05-01T12:00:25Z"`,
			want:  time.Date(2024, 5, 1, 12, 0, 20, 0, time.UTC),
		},
		{
			name:  "a clock an hour behind is moved by the hour, not by the request's latency",
			times: `"timestamp":"2024-05-01T10:59:50Z","sentAt":"2024-05-01T10:59:58.500Z"`,
			want:  time.Date(2024, 5, 1, 11, 59, 50, 0, time.UTC),
		},
		{
			name:  "a sentAt ten years ahead does not move the event ten years back",
			times: `"timestamp":"2024-05-01T11:58:00Z","sentAt":"2034-05-01T12:00:00Z"`,
			want:  time.Date(2024, 5, 1, 11, 58, 0, 0, time.UTC),
		},
		{
			name:  "a batch kept offline for two days, with the sentAt of when it was closed, keeps its timestamps",
			times: `"timestamp":"2024-04-29T11:00:00Z","sentAt":"2024-04-29T11:05:00Z"`,
			want:  time.Date(2024, 4, 29, 11, 0, 0, 0, time.UTC),
		},
		{
			name:    "a clock two hours off is not corrected beyond a MaxSkew of one hour",
			times:   `"timestamp":"2024-05-01T13:59:00Z","sentAt":"2024-05-01T14:00:00Z"`,
			maxSkew: time.Hour,
			want:    time.Date(2024, 5, 1, 13, 59, 0, 0, time.UTC),
		},
		{
			name:    "a clock an hour off is corrected with a MaxSkew of one hour",
			times:   `"timestamp":"2024-05-01T12:59:00Z","sentAt":"2024-05-01T13:00:00Z"`,
			maxSkew: time.Hour,
			want:    time.Date(2024, 5, 1, 11, 59, 0, 0, time.UTC),
		},
		{
			name:  "a timestamp without sentAt, as in an import of old orders, is taken as is",
			times: `"timestamp":"2023-12-24T08:00:00+08:00"`,
			want:  time.Date(2023, 12, 24, 0, 0, 0, 0, time.UTC),
		},
		{
			name:  "a timestamp with a compact offset is understood",
			times: `"timestamp":"2023-12-24T08:00:00.5+0800"`,
			want:  time.Date(2023, 12, 24, 0, 0, 0, 500_000_000, time.UTC),
		},
		{
			name:  "a timestamp with a space and no zone is UTC",
			times: `"timestamp":"2023-12-24 08:00:00"`,
			want:  time.Date(2023, 12, 24, 8, 0, 0, 0, time.UTC),
		},
		{
			name:  "sentAt alone says nothing about when the event happened",
			times: `"sentAt":"2024-05-01T12:10:00Z"`,
			want:  received,
		},
		{
			name:  "no timestamp at all means the event happened when it was received",
			times: `"context":{}`,
			want:  received,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOpts
			opts.MaxSkew = tt.maxSkew
			e, err := ToEvent(json.RawMessage(msg(`"type":"track","event":"Signed Up",`+tt.times)), tt.batchSentAt, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Time().Equal(tt.want) {
				t.Errorf("time = %s, want %s", e.Time().Format(time.RFC3339Nano), tt.want.Format(time.RFC3339Nano))
			}
			checkValid(t, e)
		})
	}
}

// TestToEventKeepsTheOrderOfAClientsEventsSentInSeparateRequests sends two
// events of one client 2 ms apart, each in its own request, the first over a
// slower network than the second or the other way round, from clients whose
// clocks are right, slightly off or hours off. Their event times keep the
// client's order, and land within half a SkewUnit of when they happened on
// the server's clock.
func TestToEventKeepsTheOrderOfAClientsEventsSentInSeparateRequests(t *testing.T) {
	clocks := []struct {
		name   string
		offset time.Duration // the client's clock minus the server's
	}{
		{"right", 0},
		{"3 s fast", 3 * time.Second},
		{"20 s slow", -20 * time.Second},
		{"10 min 7 s fast", 10*time.Minute + 7*time.Second},
		{"an hour fast", time.Hour},
		{"an hour slow", -time.Hour},
		{"23 h slow", -23 * time.Hour},
	}
	latencies := []struct {
		name          string
		first, second time.Duration
	}{
		{"the first request slower", 900 * time.Millisecond, 5 * time.Millisecond},
		{"the second request slower", 5 * time.Millisecond, 900 * time.Millisecond},
		{"a slow mobile upload first", 4 * time.Second, 20 * time.Millisecond},
	}
	at := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	for _, c := range clocks {
		for _, l := range latencies {
			t.Run("a clock "+c.name+", "+l.name, func(t *testing.T) {
				happened := []time.Time{received.Add(-time.Second), received.Add(-time.Second + 2*time.Millisecond)}
				var got []time.Time
				for i, latency := range []time.Duration{l.first, l.second} {
					ts := happened[i].Add(c.offset)
					sentAt := ts.Add(time.Millisecond)
					opts := testOpts
					opts.ReceivedAt = happened[i].Add(time.Millisecond + latency)
					e, err := ToEvent(json.RawMessage(msg(fmt.Sprintf(`"type":"track","event":"Signed Up","timestamp":%q,"sentAt":%q`, at(ts), at(sentAt)))), time.Time{}, opts)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, e.Time())
					if off := e.Time().Sub(happened[i]).Abs(); off > SkewUnit/2 {
						t.Errorf("event %d at %s, %s from when it happened (%s)", i, at(e.Time()), off, at(happened[i]))
					}
				}
				if !got[0].Before(got[1]) {
					t.Errorf("event times %s and %s: the second sent is not after the first", at(got[0]), at(got[1]))
				}
			})
		}
	}
}

func TestToEventDecidesTheChannel(t *testing.T) {
	tests := []struct {
		name    string
		members string
		def     string
		want    string
	}{
		{"a pos channel in the properties wins over everything", `"channel":"client","properties":{"channel":"pos"}`, "", event.ChannelPOS},
		{"an app channel in the context is taken", `"context":{"channel":"app","library":{"name":"analytics.js"}}`, "", event.ChannelApp},
		{"an unknown channel in the properties is ignored", `"channel":"mobile","properties":{"channel":"store"}`, "", event.ChannelApp},
		{"Segment's browser channel is the web", `"channel":"browser"`, event.ChannelApp, event.ChannelWeb},
		{"Segment's client channel is the web", `"channel":"client"`, event.ChannelApp, event.ChannelWeb},
		{"RudderStack's web channel is the web", `"channel":"web","context":{"library":{"name":"RudderLabs JavaScript SDK"}}`, event.ChannelPOS, event.ChannelWeb},
		{"Segment's mobile channel is the app", `"channel":"mobile"`, "", event.ChannelApp},
		{"an old RudderStack android-sdk channel is the app", `"channel":"android-sdk"`, "", event.ChannelApp},
		{"the iOS library is the app", `"context":{"library":{"name":"analytics-ios","version":"4.1.8"}}`, "", event.ChannelApp},
		{"the Kotlin library is the app", `"context":{"library":{"name":"analytics-kotlin","version":"1.16.0"}}`, "", event.ChannelApp},
		{"the React Native library is the app", `"context":{"library":{"name":"@segment/analytics-react-native","version":"2.19.0"}}`, "", event.ChannelApp},
		{"RudderStack's Android library is the app", `"context":{"library":{"name":"com.rudderstack.android.sdk.core"}}`, "", event.ChannelApp},
		{"RudderStack's iOS library is the app", `"context":{"library":{"name":"rudder-ios-library"}}`, "", event.ChannelApp},
		{"Flutter is the app", `"context":{"library":{"name":"analytics_flutter"}}`, "", event.ChannelApp},
		{"an iOS device is the app", `"context":{"device":{"type":"ios"}}`, "", event.ChannelApp},
		{"a server library without a channel takes the default", `"channel":"server","context":{"library":{"name":"analytics-python","version":"2.3.2"}}`, event.ChannelPOS, event.ChannelPOS},
		{"analytics.js without a channel takes the default", `"context":{"library":{"name":"analytics.js"}}`, event.ChannelApp, event.ChannelApp},
		{"nothing at all is the web", `"context":{}`, "", event.ChannelWeb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOpts
			o.DefaultChannel = tt.def
			e, err := ToEvent(json.RawMessage(msg(`"type":"track","event":"Signed Up",`+tt.members)), time.Time{}, o)
			if err != nil {
				t.Fatal(err)
			}
			var d struct{ Channel string }
			if err := json.Unmarshal(e.Data(), &d); err != nil {
				t.Fatal(err)
			}
			if d.Channel != tt.want {
				t.Errorf("channel = %q, want %q", d.Channel, tt.want)
			}
			checkValid(t, e)
		})
	}
}

// long is a string longer than any the schemas allow.
var long = strings.Repeat("x", 5000)

// rejectTests are messages ToEvent must reject, and the fields it must name.
var rejectTests = []struct {
	name   string
	msg    string
	fields []string
}{
	{"a group call is not supported", msg(`"type":"group","groupId":"acme"`), []string{"/type"}},
	{"an unknown call type is not supported", msg(`"type":"screenview"`), []string{"/type"}},
	{"a message without a type is rejected", msg(`"event":"Signed Up"`), []string{"/type"}},
	{"a type that is not a string is rejected", msg(`"type":7`), []string{"/type"}},
	{"a message without a messageId cannot be deduplicated", `{"anonymousId":"a","type":"page"}`, []string{"/messageId"}},
	{"an empty messageId is missing", `{"messageId":"","anonymousId":"a","type":"page"}`, []string{"/messageId"}},
	{"a fractional messageId is rejected", `{"messageId":1.5,"anonymousId":"a","type":"page"}`, []string{"/messageId"}},
	{"a message without any user id is rejected", `{"messageId":"m","type":"page"}`, []string{"/userId"}},
	{"a null userId and an empty anonymousId are no user id", `{"messageId":"m","userId":null,"anonymousId":"","type":"page"}`, []string{"/userId"}},
	{"an over-long userId is rejected", `{"messageId":"m","userId":"` + long + `","type":"page"}`, []string{"/userId"}},
	{"an anonymous identify is rejected", msg(`"type":"identify","traits":{"email":"a@example.com"}`), []string{"/userId"}},
	{"an alias without a previousId is rejected", `{"messageId":"m","userId":"u","type":"alias"}`, []string{"/previousId"}},
	{"an alias without a userId is rejected", msg(`"type":"alias","previousId":"p"`), []string{"/userId"}},
	{"a track call without an event name is rejected", msg(`"type":"track"`), []string{"/event"}},
	{"an over-long event name is rejected", msg(`"type":"track","event":"` + long[:300] + `"`), []string{"/event"}},
	{"properties that are not an object are rejected", msg(`"type":"track","event":"Signed Up","properties":[1]`), []string{"/properties"}},
	{"a product without sku or product_id is rejected", msg(`"type":"track","event":"Product Viewed","properties":{"name":"Jacket"}`), []string{"/properties/sku"}},
	{"a price with a currency symbol is rejected", msg(`"type":"track","event":"Product Viewed","properties":{"sku":"a","price":"$19.99"}`), []string{"/properties/price"}},
	{"a price beyond eighteen digits is rejected", msg(`"type":"track","event":"Product Viewed","properties":{"sku":"a","price":1e30}`), []string{"/properties/price"}},
	{"a boolean price is rejected", msg(`"type":"track","event":"Product Viewed","properties":{"sku":"a","price":true}`), []string{"/properties/price"}},
	{"a currency that is not a code is rejected", msg(`"type":"track","event":"Product Added","properties":{"sku":"a","currency":"dollars"}`), []string{"/properties/currency"}},
	{"a quantity of zero is rejected", msg(`"type":"track","event":"Product Added","properties":{"sku":"a","quantity":0}`), []string{"/properties/quantity"}},
	{"a fractional quantity is rejected", msg(`"type":"track","event":"Product Added","properties":{"sku":"a","quantity":2.5}`), []string{"/properties/quantity"}},
	{"a product list element that is not an object is rejected", msg(`"type":"track","event":"Cart Viewed","properties":{"products":[{"sku":"a"},"b",null]}`), []string{"/properties/products/1", "/properties/products/2"}},
	{"a product list element without a sku is rejected", msg(`"type":"track","event":"Product List Viewed","properties":{"products":[{"name":"a"}]}`), []string{"/properties/products/0/sku"}},
	{"an order without an order_id is rejected", msg(`"type":"track","event":"Order Completed","properties":{"total":10}`), []string{"/properties/order_id"}},
	{"an order without a total, revenue or products is rejected", msg(`"type":"track","event":"Order Completed","properties":{"order_id":"o"}`), []string{"/properties/total"}},
	{"an order with a product without a price and no total is rejected", msg(`"type":"track","event":"Order Completed","properties":{"order_id":"o","products":[{"sku":"a","price":1},{"sku":"b"}]}`), []string{"/properties/total"}},
	{"a full refund without an amount is rejected", msg(`"type":"track","event":"Order Refunded","properties":{"order_id":"o"}`), []string{"/properties/total"}},
	{"a search without a query is rejected", msg(`"type":"track","event":"Products Searched","properties":{"query":""}`), []string{"/properties/query"}},
	{"a malformed timestamp is rejected", msg(`"type":"page","timestamp":"yesterday"`), []string{"/timestamp"}},
	{"a malformed sentAt is rejected", msg(`"type":"page","sentAt":"2024-13-01T00:00:00Z"`), []string{"/sentAt"}},
	{"a numeric timestamp is rejected", msg(`"type":"page","timestamp":1714564800000`), []string{"/timestamp"}},
	{"an over-long page url is rejected", msg(`"type":"page","properties":{"url":"https://e.com/` + long + `"}`), []string{"/properties/url"}},
	{"an over-long context page url is rejected", msg(`"type":"track","event":"Signed Up","context":{"page":{"url":"https://e.com/` + long + `"}}`), []string{"/context/page/url"}},
	{"an over-long email is rejected", `{"messageId":"m","userId":"u","type":"identify","traits":{"email":"` + long[:321] + `"}}`, []string{"/traits/email"}},
	{"an impossible birthday is rejected", `{"messageId":"m","userId":"u","type":"identify","traits":{"birthday":"1990-02-30"}}`, []string{"/traits/birthday"}},
	{"a birthday in words is rejected", `{"messageId":"m","userId":"u","type":"identify","traits":{"birthday":"May 17"}}`, []string{"/traits/birthday"}},
	{"a consent that is not a boolean is rejected", `{"messageId":"m","userId":"u","type":"identify","traits":{"consent":{"email":"yes"}}}`, []string{"/traits/consent/email"}},
	{"a message that is not an object is rejected", `[1,2]`, []string{""}},
	{"a message that is not JSON is rejected", `{"type":`, []string{""}},
	{
		"every fault is reported at once",
		`{"type":"track","event":"Product Added","properties":{"price":"abc","quantity":-1}}`,
		[]string{"/messageId", "/userId", "/properties/price", "/properties/sku", "/properties/quantity"},
	},
}

func TestToEventRejectsWhatItCannotMap(t *testing.T) {
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ToEvent(json.RawMessage(tt.msg), time.Time{}, testOpts)
			var ie *event.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ToEvent error = %v, want an *event.InvalidError", err)
			}
			var got []string
			for _, fe := range ie.Errors {
				got = append(got, fe.Field)
				if fe.Rule == "" || fe.Message == "" {
					t.Errorf("field error %+v lacks a rule or message", fe)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.fields))
			if !slices.Equal(got, want) {
				t.Errorf("error fields = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

func TestToEventRejectsAMisconfiguration(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no source", Options{ReceivedAt: received}},
		{"an unknown default channel", Options{Source: "/s", DefaultChannel: "store", ReceivedAt: received}},
		{"a default currency that is not a code", Options{Source: "/s", DefaultCurrency: "usd", ReceivedAt: received}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ToEvent(json.RawMessage(msg(`"type":"page"`)), time.Time{}, tt.opts)
			var ie *event.InvalidError
			if err == nil || errors.As(err, &ie) {
				t.Errorf("ToEvent error = %v, want a configuration error that is not the client's fault", err)
			}
		})
	}
}

func TestToEventUsesTheDefaultCurrency(t *testing.T) {
	o := testOpts
	o.DefaultCurrency = "TWD"
	e, err := ToEvent(json.RawMessage(msg(`"type":"track","event":"Order Completed","properties":{"order_id":"o","total":990}`)), time.Time{}, o)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, e.Data(), `{`+base+`,"order_id":"o","total":"990","currency":"TWD"}`)
	checkValid(t, e)
}
