package campaign

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/segflow/segflow/pkg/coupon"
	"github.com/segflow/segflow/pkg/event"
)

// Kinds of campaign.
const (
	KindCartAbandon   = "cart_abandon"
	KindBrowseAbandon = "browse_abandon"
	KindLifecycle     = "lifecycle"
	KindFirstPurchase = "first_purchase"
	KindRFMSegment    = "rfm_segment"
	KindBirthday      = "birthday"
	KindHabit         = "habit"
	// KindBroadcast is entered only by broadcasts to an audience
	// (pkg/broadcast), never by a customer's own events.
	KindBroadcast = "broadcast"
	// KindJourney is the kind of a journey's send step (pkg/journey): the
	// journey enters it, so it has no entry events or delay of its own, and
	// a campaigns file cannot declare one.
	KindJourney = "journey"
)

var (
	kinds    = []string{KindCartAbandon, KindBrowseAbandon, KindLifecycle, KindFirstPurchase, KindRFMSegment, KindBirthday, KindHabit, KindBroadcast}
	channels = []string{"email", "sms", "push", "line"}
	actions  = []string{"coupon", "points", "message"}
)

// DueEvent is the type of the event that enters a birthday or habit campaign
// when its time comes.
const DueEvent = "segflow.campaign.due"

// BroadcastEvent is the type of the event that enters a campaign's audience
// when a broadcast (pkg/broadcast) reaches them; its data names the broadcast
// and occurrence.
const BroadcastEvent = "segflow.broadcast"

// DefaultVariant is the one variant of a campaign that lists none.
const DefaultVariant = "default"

// Defaults of a campaign that leaves these fields zero.
const (
	DefaultCartDelay   = 30 * time.Minute
	DefaultAttribution = 7 * 24 * time.Hour
)

// Config is the trigger service's campaign configuration. Its zero value has
// no campaigns, no caps and no quiet hours. Use it once Parse or Load has
// checked and compiled it; it is then safe for concurrent use, and a reload
// is a new Config swapped in whole.
type Config struct {
	Campaigns []Campaign `yaml:"campaigns"`
	// Caps limit the triggers one customer gets across all campaigns.
	Caps []Cap `yaml:"caps"`
	// QuietHours, in the customer's time zone, hold triggers back until they
	// end; nil means none.
	QuietHours *Quiet `yaml:"quiet_hours"`
	// DefaultTimezone is the IANA time zone of customers without one, and the
	// one daily budgets count days in; "" means UTC.
	DefaultTimezone string `yaml:"default_timezone"`
	// Coupons are the coupons campaigns issue codes of (pkg/coupon).
	Coupons []coupon.Definition `yaml:"coupons"`

	loc *time.Location
	dir string // of the file, which pool files are relative to
}

// Campaign is one campaign; see the package documentation for the model.
type Campaign struct {
	// Name identifies the campaign in triggers, dedup keys and reports; unique.
	Name string `yaml:"name"`
	// Kind is one of the Kind constants.
	Kind string `yaml:"kind"`
	// On lists the CloudEvent types that enter the campaign; birthday and habit
	// campaigns, entered by time, have none. Parse spells "profile.changed",
	// here and in CancelOn, as its CloudEvent type, segflow.profile.changed.
	On []string `yaml:"on"`
	// When is a CEL condition over the entry; "" always holds.
	When string `yaml:"when"`
	// Delay is the wait between entry and trigger; 0 fires at once (for
	// cart_abandon, 0 means DefaultCartDelay).
	Delay Duration `yaml:"delay"`
	// CancelOn lists the CloudEvent types that end a pending wait.
	CancelOn []string `yaml:"cancel_on"`
	// Restart makes a new entry event restart a pending wait.
	Restart bool `yaml:"restart"`
	// Channel is email, sms, push or line; the customer's consent for it is
	// checked before every trigger.
	Channel string `yaml:"channel"`
	// Action is what the trigger asks marketing automation to do.
	Action Action `yaml:"action"`
	// Coupon, if set, names the coupon (Config.Coupons) whose code each
	// trigger carries; the action's type must then be coupon.
	Coupon string `yaml:"coupon"`
	// Variants split the customers who are not held out, by weight; none
	// means one variant, DefaultVariant.
	Variants []Variant `yaml:"variants"`
	// Holdout is the share of customers held out as control, 0 to 0.5.
	Holdout float64 `yaml:"holdout"`
	// Caps limit the triggers of this campaign per customer.
	Caps []Cap `yaml:"caps"`
	// Cooldown is how long after a trigger the customer cannot get another
	// from this campaign; 0 means no cooldown beyond one trigger per cause.
	Cooldown Duration `yaml:"cooldown"`
	// DailyBudget caps this campaign's triggers per day; 0 means unlimited.
	DailyBudget int `yaml:"daily_budget"`
	// Attribution is the window after a trigger (or holdout decision) in
	// which a purchase is a conversion; 0 means DefaultAttribution.
	Attribution Duration `yaml:"attribution"`
	// Views and Window (browse_abandon only): the product must have been
	// viewed at least Views times within Window (see ViewedEnough).
	Views  int      `yaml:"views"`
	Window Duration `yaml:"window"`
	// Lead (habit only) is how long before the customer's usual time the
	// trigger fires.
	Lead Duration `yaml:"lead"`

	when    cel.Program       // nil: When is ""
	actions map[string]action // by variant name; nil until compiled
}

// Action is what a trigger carries: a coupon, points or a message, with
// parameters for marketing automation. A parameter written "${expr}" is a
// CEL expression (a string, number or bool) evaluated per trigger; any other
// value is taken as written.
type Action struct {
	Type   string            `yaml:"type"`
	Params map[string]string `yaml:"params"`
}

// Variant is an arm of an A/B test. Its Action, if any, overrides the
// campaign's: its Type if set, and each of its Params over the campaign's.
type Variant struct {
	Name   string  `yaml:"name"`
	Weight float64 `yaml:"weight"`
	Action *Action `yaml:"action"`
	// Coupon, if set, is the variant's coupon instead of the campaign's.
	Coupon string `yaml:"coupon"`
}

// Cap allows fewer than Max triggers within any Per.
type Cap struct {
	Max int      `yaml:"max"`
	Per Duration `yaml:"per"`
}

// Quiet is a daily period, from Start to End ("HH:MM", wall clock in the
// customer's time zone), during which no trigger is sent. It spans midnight
// when End is before Start ("21:00" to "09:00").
type Quiet struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// Duration is a time.Duration written as Go writes it ("30m", "1h30m") or
// in whole days ("7d"). It is never negative.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: %q is not a duration (want e.g. 30m, 2h, 7d)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > math.MaxInt64/int64(24*time.Hour) {
			return 0, errors.New("bad day count")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	return d, err
}

// Load reads and checks the Config in the YAML file at path; see Parse.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	c, err := parse(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load campaigns %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a Config from YAML, checks it, fills in defaults and compiles
// its expressions. Unknown fields are errors, so that a misspelt key does not
// silently drop a guard. Parse reports every problem it finds, each naming the
// campaign and the field, CEL errors with their line and column (1-based) in
// the expression. Coupon pool files are read relative to the working
// directory (Load reads them relative to the campaigns file).
func Parse(b []byte) (*Config, error) { return parse(b, ".") }

func parse(b []byte, dir string) (*Config, error) {
	c := Config{dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid campaign config: %w", nameCampaigns(b, err))
	}
	// A second document would be ignored, which is never what was meant.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid campaign config: more than one YAML document")
	}
	if err := c.compile(); err != nil {
		return nil, fmt.Errorf("invalid campaign config: %w", err)
	}
	return &c, nil
}

// zones caches the time zones loaded, which time.LoadLocation reads from
// disk on every call.
var zones sync.Map

// Location returns the time zone named tz (a customer's), or the default
// time zone when tz is empty or not an IANA name.
func (c *Config) Location(tz string) *time.Location {
	if tz != "" && tz != "Local" {
		if loc, ok := zones.Load(tz); ok {
			return loc.(*time.Location)
		}
		if loc, err := time.LoadLocation(tz); err == nil {
			zones.Store(tz, loc)
			return loc
		}
	}
	if c.loc != nil {
		return c.loc
	}
	return time.UTC
}

func (c *Config) compile() error {
	env, err := newEnv()
	if err != nil {
		return fmt.Errorf("build CEL environment: %w", err)
	}
	var errs []error
	if c.DefaultTimezone == "" {
		c.DefaultTimezone = "UTC"
	}
	if c.loc, err = time.LoadLocation(c.DefaultTimezone); err != nil || c.DefaultTimezone == "Local" {
		errs = append(errs, fmt.Errorf("default_timezone: %q is not an IANA time zone", c.DefaultTimezone))
	}
	errs = append(errs, checkCaps(c.Caps)...)
	if c.QuietHours != nil {
		if err := c.QuietHours.check(); err != nil {
			errs = append(errs, fmt.Errorf("quiet_hours: %w", err))
		}
	}
	coupons := map[string]*coupon.Definition{}
	for i := range c.Coupons {
		d := &c.Coupons[i]
		label := "coupon " + nameOr(d.Name, i)
		if coupons[d.Name] != nil {
			errs = append(errs, fmt.Errorf("%s: name: used by an earlier coupon", label))
		}
		coupons[d.Name] = d
		for _, err := range d.Compile(c.dir) {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	seen := map[string]bool{}
	for i := range c.Campaigns {
		k := &c.Campaigns[i]
		label := "campaign " + nameOr(k.Name, i)
		switch {
		case k.Name == "":
			errs = append(errs, fmt.Errorf("%s: name: missing", label))
		case seen[k.Name]:
			errs = append(errs, fmt.Errorf("%s: name: used by an earlier campaign", label))
		}
		seen[k.Name] = true
		if k.Kind == KindJourney {
			errs = append(errs, fmt.Errorf("%s: kind: journey steps are declared in a journeys file", label))
			continue
		}
		for _, err := range k.compile(env, coupons) {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	return errors.Join(errs...)
}

// nameOr is how problems name a campaign or variant: by its name, or by its
// position when it has none.
func nameOr(name string, i int) string {
	if name == "" {
		return fmt.Sprintf("#%d", i+1)
	}
	return strconv.Quote(name)
}

// compile checks c, fills in its defaults and compiles its expressions.
func (c *Campaign) compile(env *cel.Env, coupons map[string]*coupon.Definition) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	byTime := c.Kind == KindBirthday || c.Kind == KindHabit
	journey := c.Kind == KindJourney
	if !slices.Contains(kinds, c.Kind) && !journey {
		fail("kind: %q is not one of %s", c.Kind, strings.Join(kinds, ", "))
	}
	if c.Kind == KindCartAbandon && c.Delay == 0 {
		c.Delay = Duration(DefaultCartDelay)
	}
	switch {
	case byTime && len(c.On) > 0:
		fail("on: a %s campaign is entered by time, not by events", c.Kind)
	case c.Kind == KindBroadcast && len(c.On) > 0:
		fail("on: a broadcast campaign is entered by broadcasts, not by events")
	case c.Kind == KindBroadcast:
	case journey && (len(c.On) > 0 || c.Delay != 0 || len(c.CancelOn) > 0):
		fail("on, delay, cancel_on: a journey step is entered by its journey")
	case !byTime && !journey && len(c.On) == 0:
		fail("on: missing; list the event types that enter the campaign")
	}
	errs = append(errs, checkTypes("on", c.On)...)
	errs = append(errs, checkTypes("cancel_on", c.CancelOn)...)
	if len(c.CancelOn) > 0 && c.Delay == 0 {
		fail("cancel_on: only a pending delay can be cancelled, and delay is 0")
	}
	switch {
	case c.Restart && (byTime || c.Kind == KindBroadcast):
		fail("restart: a %s campaign has no entry events to restart it", c.Kind)
	case c.Restart && c.Delay == 0:
		fail("restart: only a pending delay can be restarted, and delay is 0")
	}
	if c.Kind == KindBrowseAbandon {
		if c.Delay == 0 {
			fail("delay: missing; a browse_abandon campaign waits to see the product neither carted nor bought")
		}
		if c.Views < 1 {
			fail("views: must be at least 1")
		}
		if c.Window == 0 {
			fail("window: missing; views are counted within it")
		}
	} else if c.Views != 0 || c.Window != 0 {
		fail("views, window: only browse_abandon campaigns count views")
	}
	if c.Lead != 0 && c.Kind != KindHabit {
		fail("lead: only habit campaigns have one")
	}
	if !slices.Contains(channels, c.Channel) {
		fail("channel: %q is not one of %s", c.Channel, strings.Join(channels, ", "))
	}
	if !(c.Holdout >= 0 && c.Holdout <= 0.5) {
		fail("holdout: %v is not between 0 and 0.5", c.Holdout)
	}
	errs = append(errs, checkCaps(c.Caps)...)
	if c.DailyBudget < 0 {
		fail("daily_budget: %d is negative", c.DailyBudget)
	}
	if c.Attribution == 0 {
		c.Attribution = Duration(DefaultAttribution)
	}

	if c.When != "" {
		prg, err := compileExpr(env, "when", c.When, cel.BoolType)
		if err != nil {
			errs = append(errs, err)
		}
		c.when = prg
	}

	if !slices.Contains(actions, c.Action.Type) {
		fail("action: type: %q is not one of %s", c.Action.Type, strings.Join(actions, ", "))
	}
	if c.Coupon != "" && c.Action.Type != "coupon" {
		fail("coupon: the action's type is %s, not coupon", c.Action.Type)
	}
	base, perrs := compileParams(env, "action", c.Action.Params)
	errs = append(errs, perrs...)
	if len(c.Variants) == 0 {
		c.Variants = []Variant{{Name: DefaultVariant, Weight: 1}}
	}
	c.actions = map[string]action{}
	for i, v := range c.Variants {
		label := "variant " + nameOr(v.Name, i)
		switch {
		case v.Name == "":
			fail("%s: name: missing", label)
		case dup(c.actions, v.Name):
			fail("%s: name: used by an earlier variant", label)
		}
		if !(v.Weight > 0 && v.Weight <= math.MaxFloat64) {
			fail("%s: weight: %v is not a positive number", label, v.Weight)
		}
		a := action{typ: c.Action.Type, params: maps.Clone(base)}
		if v.Action != nil {
			if v.Action.Type != "" {
				if !slices.Contains(actions, v.Action.Type) {
					fail("%s: action: type: %q is not one of %s", label, v.Action.Type, strings.Join(actions, ", "))
				}
				a.typ = v.Action.Type
			}
			over, perrs := compileParams(env, label+": action", v.Action.Params)
			errs = append(errs, perrs...)
			maps.Copy(a.params, over)
		}
		if a.typ == "points" {
			for _, err := range checkPoints(a.params) {
				fail("%s: action: %w", label, err)
			}
		}
		// A variant whose action is no coupon carries none.
		switch name := cmp.Or(v.Coupon, c.Coupon); {
		case v.Coupon != "" && a.typ != "coupon":
			fail("%s: coupon: the action's type is %s, not coupon", label, a.typ)
		case name == "" || a.typ != "coupon":
		case coupons[name] == nil:
			fail("%s: coupon: %q is not one of the coupons", label, name)
		default:
			a.coupon = coupons[name]
		}
		c.actions[v.Name] = a
	}
	return errs
}

// CompileStep checks a journey's send step, given as a campaign of kind
// KindJourney, fills in its defaults and compiles its expressions. Its coupon
// is one of c's, which must come from Parse or Load.
func (c *Config) CompileStep(k *Campaign) error {
	env, err := celEnv()
	if err != nil {
		return fmt.Errorf("build CEL environment: %w", err)
	}
	if k.Kind != KindJourney {
		return fmt.Errorf("kind: %q is not %s", k.Kind, KindJourney)
	}
	coupons := map[string]*coupon.Definition{}
	for i := range c.Coupons {
		coupons[c.Coupons[i].Name] = &c.Coupons[i]
	}
	return errors.Join(k.compile(env, coupons)...)
}

// Parameters of a points action.
const (
	// ParamPoints is how many points a points action credits: a positive
	// whole number.
	ParamPoints = "points"
	// ParamValid is how long they are valid (a Duration, "365d"); default
	// points.DefaultValidity.
	ParamValid = "valid"
)

// checkPoints checks the literal parameters of a points action; an
// expression is checked by PointsOf on each trigger.
func checkPoints(params map[string]param) []error {
	var errs []error
	switch p, ok := params[ParamPoints]; {
	case !ok:
		errs = append(errs, errors.New("params.points: missing; say how many points to credit"))
	case p.prg == nil:
		if n, err := strconv.ParseInt(p.text, 10, 64); err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("params.points: %q is not a positive whole number", p.text))
		}
	}
	if p, ok := params[ParamValid]; ok && p.prg == nil {
		if _, err := parseDuration(p.text); err != nil {
			errs = append(errs, fmt.Errorf("params.valid: %q is not a duration (e.g. 365d)", p.text))
		}
	}
	return errs
}

// PointsOf returns the points a points action's evaluated parameters credit
// and how long they are valid (0: the ledger's default).
func PointsOf(params map[string]string) (n int64, valid time.Duration, err error) {
	n, err = strconv.ParseInt(params[ParamPoints], 10, 64)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("params.points: %q is not a positive whole number", params[ParamPoints])
	}
	if v, ok := params[ParamValid]; ok {
		if valid, err = parseDuration(v); err != nil {
			return 0, 0, fmt.Errorf("params.valid: %q is not a duration", v)
		}
	}
	return n, valid, nil
}

// CouponOf returns the coupon whose codes variant's triggers carry, or nil.
func (c *Campaign) CouponOf(variant string) *coupon.Definition {
	return c.actions[variant].coupon
}

func dup(m map[string]action, name string) bool {
	_, ok := m[name]
	return ok
}

// checkTypes checks that the event types in field are known, and spells
// "profile.changed" as the CloudEvent type it stands for.
func checkTypes(field string, types []string) []error {
	var errs []error
	for i, t := range types {
		if t == "profile.changed" {
			types[i] = event.ProfileChanged
			continue
		}
		if t != event.ProfileChanged && !slices.Contains(event.Types, t) {
			errs = append(errs, fmt.Errorf("%s: %q is not an event type (e.g. %s, profile.changed)", field, t, event.ProductAdded))
		}
	}
	return errs
}

func checkCaps(caps []Cap) []error {
	var errs []error
	for i, c := range caps {
		if c.Max < 1 {
			errs = append(errs, fmt.Errorf("caps[%d]: max: must be at least 1", i))
		}
		if c.Per == 0 {
			errs = append(errs, fmt.Errorf("caps[%d]: per: missing", i))
		}
	}
	return errs
}

func (q *Quiet) check() error {
	start, err := parseClock(q.Start)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	end, err := parseClock(q.End)
	if err != nil {
		return fmt.Errorf("end: %w", err)
	}
	if start == end {
		return fmt.Errorf("start and end are both %s; leave quiet_hours out for none", q.Start)
	}
	return nil
}

// parseClock returns the minutes since midnight of "HH:MM".
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// nameCampaigns prefixes each message of a YAML type error — a misspelt
// field, a bad duration — with the campaign at its line, so that these are
// reported by campaign as the later checks are.
func nameCampaigns(b []byte, err error) error {
	var te *yaml.TypeError
	var doc yaml.Node
	if !errors.As(err, &te) || yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return err
	}
	var campaigns *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "campaigns" {
			campaigns = root.Content[i+1]
		}
	}
	errs := make([]error, len(te.Errors))
	for i, msg := range te.Errors {
		errs[i] = errors.New(msg)
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err != nil || campaigns == nil {
			continue
		}
		for j, n := range campaigns.Content {
			if n.Line <= line && line <= lastLine(n) {
				errs[i] = fmt.Errorf("campaign %s: %s", nameOr(field(n, "name"), j), msg)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// field returns the scalar value of key in the mapping n, or "".
func field(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}
