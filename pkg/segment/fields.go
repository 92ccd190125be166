package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
)

// reader reads a message and collects a field error for every rule it breaks,
// so a producer can fix them all at once.
type reader struct {
	errs []event.FieldError
}

// fail records a field error. A field read twice (a flat product's currency
// is also the event's) is reported once.
func (r *reader) fail(field, rule, format string, args ...any) {
	fe := event.FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
	if !slices.Contains(r.errs, fe) {
		r.errs = append(r.errs, fe)
	}
}

func (r *reader) failed() bool { return len(r.errs) > 0 }

// hasErrUnder reports whether a field at or under ptr has an error.
func (r *reader) hasErrUnder(ptr string) bool {
	for _, e := range r.errs {
		if e.Field == ptr || strings.HasPrefix(e.Field, ptr+"/") {
			return true
		}
	}
	return false
}

// hasErr reports whether field already has an error, so a missing value is
// not reported twice.
func (r *reader) hasErr(field string) bool {
	for _, e := range r.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return &event.InvalidError{Errors: r.errs}
}

// object is a JSON object of a message, with the JSON pointer of where it is
// so errors can name a field.
type object struct {
	r      *reader
	ptr    string
	fields map[string]json.RawMessage
}

// objectAt reads raw, found at ptr, as an object. Absent or null is an empty
// object; anything else that is not an object is an error.
func (r *reader) objectAt(ptr string, raw json.RawMessage) object {
	o := object{r: r, ptr: ptr}
	if isNull(raw) {
		return o
	}
	if err := json.Unmarshal(raw, &o.fields); err != nil {
		if ptr == "" {
			r.fail(ptr, "type", "the message must be a JSON object")
		} else {
			r.fail(ptr, "type", "must be an object")
		}
	}
	return o
}

func (o object) path(key string) string {
	key = strings.ReplaceAll(key, "~", "~0")
	return o.ptr + "/" + strings.ReplaceAll(key, "/", "~1")
}

// raw returns the value of key, or nil when it is absent or null.
func (o object) raw(key string) json.RawMessage {
	v := o.fields[key]
	if isNull(v) {
		return nil
	}
	return v
}

func (o object) has(key string) bool { return o.raw(key) != nil }

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// kind returns the first byte of a JSON value: '"', '{', '[', 't', 'f', 'n',
// or '-' and digits for numbers.
func kind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isNumber(raw json.RawMessage) bool {
	k := kind(raw)
	return k == '-' || ('0' <= k && k <= '9')
}

// str reads a string of at most max characters (no limit when max is 0).
func (o object) str(key string, max int) string {
	raw := o.raw(key)
	if raw == nil {
		return ""
	}
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		o.r.fail(o.path(key), "type", "must be a string")
		return ""
	}
	return o.limit(key, s, max)
}

// text reads a descriptive string: a JSON string, or a number kept as written,
// since clients send names and categories as either.
func (o object) text(key string, max int) string {
	raw := o.raw(key)
	if isNumber(raw) {
		return o.limit(key, string(bytes.TrimSpace(raw)), max)
	}
	return o.str(key, max)
}

func (o object) limit(key, s string, max int) string {
	if max > 0 && utf8.RuneCountInString(s) > max {
		o.r.fail(o.path(key), "maxLength", "must be at most %d characters", max)
		return ""
	}
	return s
}

// maxID is the length limit of ids.
const maxID = event.MaxID

// id reads an identifier: a string, or an integer that clients send for
// database ids. An empty string counts as absent.
func (o object) id(key string) string {
	raw := o.raw(key)
	if raw == nil {
		return ""
	}
	if isNumber(raw) {
		s := string(bytes.TrimSpace(raw))
		if !isInteger(s) {
			o.r.fail(o.path(key), "type", "must be a string or an integer")
			return ""
		}
		return o.limit(key, s, maxID)
	}
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		o.r.fail(o.path(key), "type", "must be a string or an integer")
		return ""
	}
	return o.limit(key, s, maxID)
}

// isInteger reports whether s is a JSON integer literal with no fraction or
// exponent.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// obj reads a nested object.
func (o object) obj(key string) object {
	return o.r.objectAt(o.path(key), o.raw(key))
}

// arr reads an array of at most max elements.
func (o object) arr(key string, max int) []json.RawMessage {
	raw := o.raw(key)
	if raw == nil {
		return nil
	}
	var a []json.RawMessage
	if kind(raw) != '[' || json.Unmarshal(raw, &a) != nil {
		o.r.fail(o.path(key), "type", "must be an array")
		return nil
	}
	if len(a) > max {
		o.r.fail(o.path(key), "maxItems", "must have at most %d items", max)
		return nil
	}
	return a
}

// money reads an amount in major units, a JSON number as the Segment spec has
// it or a decimal string, as a canonical decimal.
func (o object) money(key string) string {
	raw := o.raw(key)
	if raw == nil {
		return ""
	}
	lit := string(bytes.TrimSpace(raw))
	if kind(raw) == '"' {
		if json.Unmarshal(raw, &lit) != nil {
			lit = ""
		}
	} else if !isNumber(raw) {
		o.r.fail(o.path(key), "type", "must be a number or a decimal string")
		return ""
	}
	d, err := money.Decimal(json.Number(lit))
	if err == nil {
		err = checkDecimal(d)
	}
	if err != nil {
		o.r.fail(o.path(key), "money", "%v", err)
		return ""
	}
	return d
}

// checkDecimal checks a canonical decimal against the bounds of money fields.
func checkDecimal(d string) error {
	m, err := money.ParseDecimal(d)
	if err != nil {
		return err
	}
	return money.CheckAmount(m)
}

// currency reads an ISO 4217 code; lower case is accepted.
func (o object) currency(key string) string {
	s := strings.ToUpper(strings.TrimSpace(o.str(key, 0)))
	if s == "" {
		return ""
	}
	if !isCurrency(s) {
		o.r.fail(o.path(key), "pattern", "must be an ISO 4217 currency code such as USD")
		return ""
	}
	return s
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// maxQuantity is the limit of a line item's quantity in schemas/defs.json.
const maxQuantity = 1_000_000

// quantity reads a whole number of items from 1 to maxQuantity; 0 means absent.
func (o object) quantity(key string) int {
	raw := o.raw(key)
	if raw == nil {
		return 0
	}
	var n json.Number
	if !isNumber(raw) || json.Unmarshal(raw, &n) != nil {
		o.r.fail(o.path(key), "type", "must be a whole number")
		return 0
	}
	// Read exactly, as JSON Schema does: 2.0 and 2e0 are two items, 2.5 and
	// 2.0000001 are errors. money.Parse reads a number in a currency without
	// minor units exactly, as a whole number of major units.
	m, err := money.Parse(json.RawMessage(n), "JPY")
	if err != nil || m%1_000_000 != 0 || m < 1_000_000 || m > maxQuantity*1_000_000 {
		o.r.fail(o.path(key), "range", "must be a whole number from 1 to %d", maxQuantity)
		return 0
	}
	return int(m / 1_000_000)
}

// boolean reads true or false.
func (o object) boolean(key string) *bool {
	raw := o.raw(key)
	if raw == nil {
		return nil
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		o.r.fail(o.path(key), "type", "must be true or false")
		return nil
	}
	return &b
}

// time reads an ISO 8601 date-time.
func (o object) time(key string) (time.Time, bool) {
	s := o.str(key, 0)
	if s == "" {
		return time.Time{}, false
	}
	t, ok := parseTime(s)
	if !ok {
		o.r.fail(o.path(key), "format", "must be an ISO 8601 date-time such as 2024-05-01T12:30:00.000Z")
	}
	return t, ok
}

// timeLayouts are the ISO 8601 forms clients send: RFC 3339 with or without a
// fraction (Go accepts a fraction after the seconds of any layout), offsets
// written +08:00, +0800 or +08, no offset meaning UTC, and a bare date.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

func parseTime(s string) (time.Time, bool) {
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't') {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Context is read leniently: client libraries fill it in automatically, so a
// value of an unexpected type is ignored rather than failing the event.

// loose returns the string value of key, or "" when it is not a string.
func (o object) loose(key string) string {
	raw := o.raw(key)
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// looseText is loose but also keeps a number as written ("build": 42).
func (o object) looseText(key string) string {
	if raw := o.raw(key); isNumber(raw) {
		return string(bytes.TrimSpace(raw))
	}
	return o.loose(key)
}

// looseLimited is loose, but a string longer than max is still an error:
// it would break the schema wherever it came from.
func (o object) looseLimited(key string, max int) string {
	return o.limit(key, o.loose(key), max)
}

// looseObj returns the object at key, or an empty one when it is not an object.
func (o object) looseObj(key string) object {
	sub := object{r: o.r, ptr: o.path(key)}
	if raw := o.raw(key); kind(raw) == '{' {
		_ = json.Unmarshal(raw, &sub.fields)
	}
	return sub
}

// index returns the pointer of element i of the array at key.
func (o object) index(key string, i int) string {
	return o.path(key) + "/" + strconv.Itoa(i)
}
