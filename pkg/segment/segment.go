package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/event"
)

// Options are the per-request facts the mapping needs.
type Options struct {
	// Source is the CloudEvent source of the events, e.g. "/sources/web".
	// It is required.
	Source string
	// DefaultChannel is the channel of events whose message does not tell:
	// "web", "app" or "pos". "" means web.
	DefaultChannel string
	// DefaultCurrency is the ISO 4217 currency of amounts whose message names
	// none. "" means USD.
	DefaultCurrency string
	// ReceivedAt is when the collector received the request. Event times are
	// corrected for client clock skew against it (see doc.go).
	ReceivedAt time.Time
	// MaxSkew is the largest client clock error corrected: a sentAt further
	// than this from ReceivedAt is not believed, and the message's timestamp
	// is taken as it is. Zero means event.DefaultMaxFuture; the collector
	// passes its MaxFuture, so that a clock no further off than an accepted
	// event may be in the future is corrected.
	MaxSkew time.Duration
}

// check returns opts with defaults filled in, or an error for a configuration
// mistake (not the client's).
func (opts Options) check() (Options, error) {
	if opts.Source == "" {
		return opts, errors.New("segment: Options.Source is empty")
	}
	if opts.DefaultChannel == "" {
		opts.DefaultChannel = event.ChannelWeb
	}
	if !event.IsChannel(opts.DefaultChannel) {
		return opts, fmt.Errorf("segment: Options.DefaultChannel %q is not web, app or pos", opts.DefaultChannel)
	}
	if opts.DefaultCurrency == "" {
		opts.DefaultCurrency = "USD"
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = event.DefaultMaxFuture
	}
	if !isCurrency(opts.DefaultCurrency) {
		return opts, fmt.Errorf("segment: Options.DefaultCurrency %q is not an ISO 4217 code", opts.DefaultCurrency)
	}
	return opts, nil
}

// ToEvent maps one Segment message to a segflow CloudEvent: specversion 1.0,
// id the messageId (what deduplication keys on), source opts.Source, type the
// segflow type, time the event time corrected for client clock skew (see
// the package doc),
// dataschema the type's schema, the partitionkey, receivedat and channel
// extensions, and data in segflow's canonical JSON.
//
// batchSentAt is the sentAt of the batch the message came in, used when the
// message has none; it may be zero.
//
// A message the mapping cannot accept is an *event.InvalidError listing every
// field at fault as a JSON pointer into the message, strings that are not
// valid UTF-8 text among them (rule utf8). Any other error is a
// mistake in opts.
func ToEvent(msg json.RawMessage, batchSentAt time.Time, opts Options) (cloudevents.Event, error) {
	opts, err := opts.check()
	if err != nil {
		return cloudevents.Event{}, err
	}
	r := &reader{}
	m := r.objectAt("", msg)
	if r.failed() {
		return cloudevents.Event{}, r.err()
	}
	// Decoding reads text that is not UTF-8 as U+FFFD: refuse it, so that
	// different ids cannot become one.
	r.errs = append(r.errs, event.TextErrors("", msg)...)
	call := strings.ToLower(m.str("type", 0))
	switch call {
	case "track", "page", "screen", "identify", "alias":
	case "":
		if !r.failed() {
			r.fail("/type", "required", "is required: track, page, screen, identify or alias")
		}
	case "group":
		r.fail("/type", "enum", "group calls are not supported: segflow profiles customers, not accounts")
	default:
		r.fail("/type", "enum", "%q calls are not supported: send track, page, screen, identify or alias", call)
	}
	if r.failed() {
		return cloudevents.Event{}, r.err()
	}

	id := m.id("messageId")
	if id == "" && !r.hasErr("/messageId") {
		r.fail("/messageId", "required", "is required: it identifies the event, so a retried request is not counted twice")
	}
	c := common{UserID: m.id("userId"), AnonymousID: m.id("anonymousId")}
	if c.UserID == "" && c.AnonymousID == "" && !r.hasErr("/userId") && !r.hasErr("/anonymousId") {
		r.fail("/userId", "required", "userId or anonymousId is required")
	}
	when := eventTime(m, batchSentAt, opts.ReceivedAt, opts.MaxSkew)

	ctx := m.obj("context")
	props := m.obj("properties")
	page := ctx.looseObj("page")
	isPage := call == "page" || call == "screen"
	c.Channel = channel(m, props, ctx, opts.DefaultChannel)
	if isPage {
		c.URL = props.str("url", maxURL)
	}
	if c.URL == "" {
		c.URL = page.looseLimited("url", maxURL)
	}
	c.Referrer = props.looseLimited("referrer", maxURL)
	if c.Referrer == "" {
		c.Referrer = page.looseLimited("referrer", maxURL)
	}
	c.Campaign = campaignOf(ctx.looseObj("campaign"))
	c.Context = contextOf(ctx)

	var typ string
	var data any
	switch call {
	case "track":
		typ, data = track(m, props, c, opts.DefaultCurrency)
	case "page", "screen":
		typ, data = pageView(m, props, page, c)
	case "identify":
		typ, data = identify(m, ctx, c)
	case "alias":
		typ, data = alias(m, c)
	}
	if r.failed() {
		return cloudevents.Event{}, r.err()
	}
	b, err := json.Marshal(data)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode %s data: %w", typ, err)
	}

	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource(opts.Source)
	e.SetType(typ)
	e.SetTime(when.UTC())
	e.SetDataSchema(event.SchemaURL(typ))
	// Set the bytes directly: SetData would mark []byte data as base64.
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = b
	e.SetExtension(event.ExtPartitionKey, event.CustomerID(c.UserID, c.AnonymousID))
	e.SetExtension(event.ExtReceivedAt, opts.ReceivedAt.UTC().Format(time.RFC3339Nano))
	e.SetExtension(event.ExtChannel, c.Channel)
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("segment: build event %s: %w", id, err)
	}
	return e, nil
}

// channel decides where the event happened: an explicit web/app/pos in the
// properties or context, else Segment's own channel field, else a mobile
// client library or device, else the default.
func channel(m, props, ctx object, def string) string {
	for _, v := range []string{props.loose("channel"), ctx.loose("channel")} {
		if v = strings.ToLower(strings.TrimSpace(v)); event.IsChannel(v) {
			return v
		}
	}
	switch v := strings.ToLower(m.loose("channel")); {
	case v == "browser" || v == "client" || v == event.ChannelWeb:
		return event.ChannelWeb
	case v == event.ChannelPOS:
		return event.ChannelPOS
	case mobile(v):
		return event.ChannelApp
	}
	if mobile(ctx.looseObj("library").loose("name")) {
		return event.ChannelApp
	}
	switch strings.ToLower(ctx.looseObj("device").loose("type")) {
	case "ios", "android":
		return event.ChannelApp
	}
	return def
}

// mobileWords are words in a library name or channel that mark a mobile
// client: analytics-ios, analytics-android, analytics-react-native,
// analytics-kotlin, analytics-swift, analytics_flutter, rudder-ios-library,
// com.rudderstack.android.sdk.core, rudder-sdk-react-native, RudderStack's
// "mobile" and "android-sdk" channels.
var mobileWords = map[string]bool{
	"mobile": true, "app": true, "ios": true, "android": true, "native": true, "reactnative": true,
	"flutter": true, "kotlin": true, "swift": true, "xamarin": true, "unity": true, "cordova": true,
	"capacitor": true,
}

func mobile(s string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) {
		if mobileWords[w] {
			return true
		}
	}
	return false
}

// Length limits of schemas/defs.json and the event schemas.
const (
	maxURL  = 4096
	maxName = 1024
	maxTag  = 256
)

// common holds the fields every event's data carries (defs.json#/$defs/common).
type common struct {
	UserID      string         `json:"user_id,omitempty"`
	AnonymousID string         `json:"anonymous_id,omitempty"`
	Channel     string         `json:"channel,omitempty"`
	URL         string         `json:"url,omitempty"`
	Referrer    string         `json:"referrer,omitempty"`
	Campaign    *campaign      `json:"campaign,omitempty"`
	Context     map[string]any `json:"context,omitempty"`
}

// campaign holds UTM parameters.
type campaign struct {
	Source  string `json:"source,omitempty"`
	Medium  string `json:"medium,omitempty"`
	Name    string `json:"name,omitempty"`
	Term    string `json:"term,omitempty"`
	Content string `json:"content,omitempty"`
}

func campaignOf(o object) *campaign {
	c := campaign{
		Source:  o.loose("source"),
		Medium:  o.loose("medium"),
		Name:    o.loose("name"),
		Term:    o.loose("term"),
		Content: o.loose("content"),
	}
	if c == (campaign{}) {
		return nil
	}
	return &c
}

// contextOf copies the parts of the Segment context worth keeping: which
// library and app sent the event, in what locale and time zone, on what kind
// of device and page. Everything else, notably ip, userAgent and traits, is
// left out: personal data enters segflow only through identify traits.
func contextOf(ctx object) map[string]any {
	out := map[string]any{}
	pick := func(name string, o object, keys ...string) {
		sub := map[string]any{}
		for _, k := range keys {
			if v := o.looseText(k); v != "" {
				sub[k] = v
			}
		}
		if len(sub) > 0 {
			out[name] = sub
		}
	}
	pick("library", ctx.looseObj("library"), "name", "version")
	pick("app", ctx.looseObj("app"), "name", "version", "build", "namespace")
	pick("os", ctx.looseObj("os"), "name", "version")
	pick("device", ctx.looseObj("device"), "type")
	pick("page", ctx.looseObj("page"), "path")
	for _, k := range []string{"locale", "timezone"} {
		if v := ctx.loose(k); v != "" {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pageViewed is the data of event.PageViewed.
type pageViewed struct {
	common
	Name  string `json:"name,omitempty"`
	Title string `json:"title,omitempty"`
	Path  string `json:"path,omitempty"`
}

// pageView maps a page or screen call.
func pageView(m, props, page object, c common) (string, any) {
	d := pageViewed{common: c, Name: m.text("name", maxName)}
	if d.Name == "" {
		d.Name = props.text("name", maxName)
	}
	if d.Title = props.str("title", maxName); d.Title == "" {
		d.Title = page.looseLimited("title", maxName)
	}
	if d.Path = props.str("path", maxURL); d.Path == "" {
		d.Path = page.looseLimited("path", maxURL)
	}
	return event.PageViewed, d
}

// known are the identify traits read by their own rules (a date, a
// member_tier alias, a time zone from the context); consent is read apart.
// Every other trait is kept as event.Traits reads it.
var known = map[string]bool{"email": true, "phone": true, "birthday": true, "timezone": true, "tier": true, "member_tier": true, "consent": true}

// consent is what the customer agreed to be contacted by.
type consent struct {
	Email *bool `json:"email,omitempty"`
	SMS   *bool `json:"sms,omitempty"`
	Push  *bool `json:"push,omitempty"`
	Line  *bool `json:"line,omitempty"`
}

type identifyData struct {
	common
	Traits  map[string]any `json:"traits,omitempty"`
	Consent *consent       `json:"consent,omitempty"`
}

// identify maps an identify call. Segment sends traits at the top level;
// RudderStack sends them in context.traits. The top level wins.
func identify(m, ctx object, c common) (string, any) {
	if c.UserID == "" && !m.r.hasErr("/userId") {
		m.r.fail("/userId", "required", "is required: identify links this customer's ids and traits to a user id")
	}
	top, inCtx := m.obj("traits"), ctx.obj("traits")
	from := func(key string) object {
		if top.has(key) || !inCtx.has(key) {
			return top
		}
		return inCtx
	}
	t := map[string]any{}
	for k, v := range map[string]string{
		"email":    from("email").str("email", event.MaxEmail),
		"phone":    from("phone").text("phone", 64),
		"birthday": birthday(from("birthday"), "birthday"),
		"timezone": from("timezone").str("timezone", 64),
		"tier":     from("tier").text("tier", 64),
	} {
		if v != "" {
			t[k] = v
		}
	}
	if t["timezone"] == nil {
		if tz := ctx.looseLimited("timezone", 64); tz != "" {
			t["timezone"] = tz
		}
	}
	if t["tier"] == nil {
		if tier := from("member_tier").text("member_tier", 64); tier != "" {
			t["tier"] = tier
		}
	}
	// The rest: context.traits first, so that a trait at the top wins.
	for _, o := range []object{inCtx, top} {
		if o.fields == nil {
			continue
		}
		raw, _ := json.Marshal(o.fields)
		kept, errs := event.Traits(o.ptr, raw, func(name string) bool { return known[name] })
		m.r.errs = append(m.r.errs, errs...)
		for _, tr := range kept {
			t[tr.Name] = tr.JSON()
		}
	}
	if len(t) > event.MaxTraits {
		m.r.fail("/traits", "maxProperties", "has %d traits: at most %d are kept", len(t), event.MaxTraits)
	}
	d := identifyData{common: c}
	if len(t) > 0 {
		d.Traits = t
	}

	// Consent comes from traits.consent, else context.consent, per channel.
	sources := []object{from("consent").obj("consent"), ctx.obj("consent")}
	pick := func(key string) *bool {
		for _, o := range sources {
			if o.has(key) {
				return o.boolean(key)
			}
		}
		return nil
	}
	cs := consent{Email: pick("email"), SMS: pick("sms"), Push: pick("push"), Line: pick("line")}
	if cs != (consent{}) {
		d.Consent = &cs
	}
	return event.Identify, d
}

// birthday reads a date as YYYY-MM-DD, --MM-DD when the year is unknown, or
// the date part of an ISO 8601 date-time as written.
func birthday(o object, key string) string {
	s := strings.TrimSpace(o.str(key, 0))
	if s == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, "--"); ok && len(rest) == 5 {
		// 2000 is a leap year, so --02-29 is a birthday.
		if _, err := time.Parse(time.DateOnly, "2000-"+rest); err == nil {
			return s
		}
	} else if len(s) >= len(time.DateOnly) {
		if _, err := time.Parse(time.DateOnly, s[:len(time.DateOnly)]); err == nil {
			if _, ok := parseTime(s); ok {
				return s[:len(time.DateOnly)]
			}
		}
	}
	o.r.fail(o.path(key), "format", "must be a date: YYYY-MM-DD, --MM-DD, or an ISO 8601 date-time")
	return ""
}

type aliasData struct {
	common
	PreviousID string `json:"previous_id"`
}

// alias maps an alias call: previousId now belongs to userId.
func alias(m object, c common) (string, any) {
	if c.UserID == "" && !m.r.hasErr("/userId") {
		m.r.fail("/userId", "required", "is required: alias links previousId to this user id")
	}
	d := aliasData{common: c, PreviousID: m.id("previousId")}
	if d.PreviousID == "" && !m.r.hasErr("/previousId") {
		m.r.fail("/previousId", "required", "is required: it is the id being linked to userId")
	}
	return event.Alias, d
}
