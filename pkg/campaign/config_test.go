package campaign

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const exampleFile = "../../deploy/campaigns.yaml"

func loadExample(t *testing.T) *Config {
	t.Helper()
	c, err := Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Config) campaign(t *testing.T, name string) *Campaign {
	t.Helper()
	for i := range c.Campaigns {
		if c.Campaigns[i].Name == name {
			return &c.Campaigns[i]
		}
	}
	t.Fatalf("no campaign %q", name)
	return nil
}

var t0 = time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)

// ev is an entry event of type typ with data.
func ev(typ string, data map[string]any) map[string]any {
	return map[string]any{"type": typ, "time": t0, "data": data}
}

// customer is an active customer's profile, changed by the key-value pairs kv.
func customer(kv ...any) map[string]any {
	p := map[string]any{
		"stage": "E0", "segment": "general_value", "r_score": 3, "f_score": 3, "m_score": 3,
		"tier": "member", "tags": []string{}, "orders": 3, "lifetime": 300.0, "cart_value": 0.0,
		"traits":  map[string]any{"timezone": "Asia/Taipei", "age": 30.0},
		"consent": map[string]bool{"email": true},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

// changed is a profile.changed entry of field from before to after.
func changed(field, before, after string) Input {
	b, a := customer(field, before), customer(field, after)
	return Input{
		Event:   ev("segflow.profile.changed", nil),
		Profile: a,
		Change:  map[string]any{"before": b, "after": a, "changed": []any{field}},
	}
}

func TestExampleFileHasEveryKindOfCampaign(t *testing.T) {
	c := loadExample(t)
	var got []string
	for _, k := range c.Campaigns {
		got = append(got, k.Kind)
	}
	for _, kind := range kinds {
		if !slices.Contains(got, kind) {
			t.Errorf("no %s campaign in %s", kind, exampleFile)
		}
	}
	if c.QuietHours == nil || len(c.Caps) == 0 || c.DefaultTimezone != "Asia/Taipei" {
		t.Errorf("quiet hours %v, caps %v, default time zone %q: want all set", c.QuietHours, c.Caps, c.DefaultTimezone)
	}
}

func TestExampleCampaignsMatch(t *testing.T) {
	c := loadExample(t)
	viewed := map[string]any{"product": map[string]any{"sku": "JKT-1", "price": "59.90"}}
	tests := []struct {
		name     string
		campaign string
		in       Input
		want     bool
	}{
		{"an item added to a cart worth 59.90 enters cart abandon", "cart_abandon_coupon",
			Input{Event: ev("segflow.cart.product_added", viewed), Profile: customer("cart_value", 59.9)}, true},
		{"a checkout started enters cart abandon", "cart_abandon_coupon",
			Input{Event: ev("segflow.cart.checkout_started", nil), Profile: customer("cart_value", 12.5)}, true},
		{"a cart emptied by the end of the wait no longer matches cart abandon", "cart_abandon_coupon",
			Input{Event: ev("segflow.cart.product_added", viewed), Profile: customer("cart_value", 0.0)}, false},
		{"a product view does not enter cart abandon", "cart_abandon_coupon",
			Input{Event: ev("segflow.browse.product_viewed", viewed), Profile: customer("cart_value", 59.9)}, false},

		{"a product view enters browse abandon", "browse_abandon_reminder",
			Input{Event: ev("segflow.browse.product_viewed", viewed), Profile: customer()}, true},
		{"a view of a product list does not enter browse abandon", "browse_abandon_reminder",
			Input{Event: ev("segflow.browse.product_list_viewed", map[string]any{"category": "jackets"}), Profile: customer()}, false},

		{"dozing off (E0 to S1) enters wake-up S1", "wake_up_s1", changed("stage", "E0", "S1"), true},
		{"falling half asleep (S1 to S2) does not enter wake-up S1", "wake_up_s1", changed("stage", "S1", "S2"), false},
		{"a tier change of a dozing customer does not enter wake-up S1", "wake_up_s1",
			Input{Event: ev("segflow.profile.changed", nil), Profile: customer("stage", "S1"),
				Change: map[string]any{"before": customer("stage", "S1"), "after": customer("stage", "S1", "tier", "silver"), "changed": []any{"tier"}}}, false},
		{"falling half asleep (S1 to S2) enters wake-up S2", "wake_up_s2", changed("stage", "S1", "S2"), true},
		{"falling deep asleep (S2 to S3) does not enter wake-up S2", "wake_up_s2", changed("stage", "S2", "S3"), false},
		{"falling deep asleep (S2 to S3) enters wake-up S3", "wake_up_s3", changed("stage", "S2", "S3"), true},
		{"waking up (S3 to E0) does not enter wake-up S3", "wake_up_s3", changed("stage", "S3", "E0"), false},

		{"a first purchase (prospect to N) enters the welcome", "first_purchase_welcome", changed("stage", "prospect", "N"), true},
		{"a second purchase (N to E0) does not enter the welcome", "first_purchase_welcome", changed("stage", "N", "E0"), false},

		{"entering important_retain enters the retention offer", "retain_offer", changed("segment", "important_keep", "important_retain"), true},
		{"leaving important_retain does not enter the retention offer", "retain_offer", changed("segment", "important_retain", "general_retain"), false},
		{"entering important_value enters VIP points", "vip_points", changed("segment", "important_develop", "important_value"), true},
		{"entering important_develop does not enter VIP points", "vip_points", changed("segment", "general_develop", "important_develop"), false},

		{"the birthday of a customer who has bought enters the birthday coupon", "birthday_coupon",
			Input{Event: ev(DueEvent, nil), Profile: customer("orders", 2)}, true},
		{"the birthday of a customer who never bought does not", "birthday_coupon",
			Input{Event: ev(DueEvent, nil), Profile: customer("stage", "prospect", "orders", 0)}, false},
		{"an event does not enter the birthday coupon, only its time does", "birthday_coupon",
			Input{Event: ev("segflow.identify.identify", nil), Profile: customer("orders", 2)}, false},

		{"the usual time of a customer with 5 orders enters the habit coupon", "habit_coffee",
			Input{Event: ev(DueEvent, nil), Profile: customer("orders", 5)}, true},
		{"the usual time of a dozing (S1) customer does not", "habit_coffee",
			Input{Event: ev(DueEvent, nil), Profile: customer("orders", 5, "stage", "S1")}, false},
		{"the usual time of a half-asleep (S2) customer does not", "habit_coffee",
			Input{Event: ev(DueEvent, nil), Profile: customer("orders", 5, "stage", "S2")}, false},
		{"the usual time of a deep-asleep (S3) customer does not", "habit_coffee",
			Input{Event: ev(DueEvent, nil), Profile: customer("orders", 5, "stage", "S3")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.campaign(t, tt.campaign).Matches(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s: Matches = %t, want %t", tt.campaign, got, tt.want)
			}
		})
	}
}

func TestExampleParams(t *testing.T) {
	c := loadExample(t)
	cart := Input{Event: ev("segflow.cart.product_added", nil), Profile: customer("cart_value", 59.9)}
	viewed := Input{Event: ev("segflow.browse.product_viewed", map[string]any{"product": map[string]any{"sku": "JKT-1"}})}
	due := func(tier string) Input { return Input{Event: ev(DueEvent, nil), Profile: customer("tier", tier)} }
	tests := []struct {
		name     string
		campaign string
		variant  string
		in       Input
		want     map[string]string
	}{
		{"the cart abandon coupon carries the cart's value", "cart_abandon_coupon", "ten_percent", cart,
			map[string]string{"template": "cart_reminder", "cart_value": "59.9", "discount": "10%"}},
		{"the free shipping variant overrides only the discount", "cart_abandon_coupon", "free_shipping", cart,
			map[string]string{"template": "cart_reminder", "cart_value": "59.9", "discount": "free_shipping"}},
		{"the browse reminder names the product viewed", "browse_abandon_reminder", DefaultVariant, viewed,
			map[string]string{"template": "still_thinking", "sku": "JKT-1"}},
		{"the birthday coupon names its template; its code carries the value", "birthday_coupon", DefaultVariant, due("gold"),
			map[string]string{"template": "happy_birthday"}},
		{"VIP points are 500", "vip_points", DefaultVariant, Input{},
			map[string]string{"points": "500", "valid": "365d", "reason": "vip"}},
		{"VIP points are 1000 for gold", "vip_points", DefaultVariant, Input{Profile: map[string]any{"tier": "gold"}},
			map[string]string{"points": "1000", "valid": "365d", "reason": "vip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.campaign(t, tt.campaign).Params(tt.in, tt.variant)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Params = %v, want %v", got, tt.want)
			}
		})
	}
}

// config returns a config of one valid lifecycle campaign named c, with
// fields ("key: value") replacing its own or added at its end, "-key"
// removing one, and indented lines added at its end.
func config(fields ...string) string {
	lines := []string{"name: c", "kind: lifecycle", "on: [profile.changed]", "channel: email", "action: {type: message}"}
	for _, f := range fields {
		key, _, _ := strings.Cut(strings.TrimPrefix(f, "-"), ":")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+":") })
		switch {
		case strings.HasPrefix(f, " "): // a nested line
			lines = append(lines, f)
		case strings.HasPrefix(f, "-"):
			lines = slices.Delete(lines, i, i+1)
		case i >= 0:
			lines[i] = f
		default:
			lines = append(lines, f)
		}
	}
	return "campaigns:\n  - " + strings.Join(lines, "\n    ") + "\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"a misspelt campaign field is an error naming the campaign and line",
			config("wen: true"), []string{`campaign "c": line 7: field wen not found`}},
		{"an unknown top-level field is an error",
			"campaings: []\n", []string{"line 1: field campaings not found"}},
		{"a second YAML document is an error",
			config() + "---\ncaps: []\n", []string{"more than one YAML document"}},
		{"an unknown kind is an error listing the kinds",
			config("kind: cart_abandonment"), []string{`campaign "c": kind: "cart_abandonment" is not one of cart_abandon, browse_abandon, lifecycle, first_purchase, rfm_segment, birthday, habit, broadcast`}},
		{"a broadcast campaign with entry events is an error",
			config("kind: broadcast"), []string{`campaign "c": on: a broadcast campaign is entered by broadcasts, not by events`}},
		{"a duration with a space is an error naming the campaign and line",
			config("delay: 30 min"), []string{`campaign "c": line 7: "30 min" is not a duration (want e.g. 30m, 2h, 7d)`}},
		{"a negative duration is an error",
			config("cooldown: -1h"), []string{`campaign "c": line 7: "-1h" is not a duration`}},
		{"a fractional day count is an error",
			config("attribution: 1.5d"), []string{`"1.5d" is not a duration`}},
		{"a bad duration in a cap is an error naming the campaign",
			config("caps:", "  - {max: 1, per: a week}"), []string{`campaign "c": line 8: "a week" is not a duration`}},
		{"a bad duration in the global caps is an error without a campaign",
			"caps: [{max: 1, per: 1w}]\n", []string{`line 1: "1w" is not a duration`}},

		{"a string When is an error",
			config(`when: '"S1"'`), []string{`campaign "c": when: must be bool, is string`}},
		{"a When of a profile field alone is an error: it may not be a bool",
			config("when: profile.stage"), []string{`campaign "c": when: must be bool, is dyn`}},
		{"a CEL syntax error is reported with its line and column",
			config(`when: profile.stage == "S1" &&& true`), []string{`campaign "c": when:1:25: Syntax error: token recognition error at: '& '`}},
		{"an undeclared variable is reported with its position",
			config(`when: customer.stage == "S1"`), []string{`campaign "c": when:1:1: undeclared reference to 'customer'`}},
		{"an unknown function is reported at its opening parenthesis",
			config(`when: profile.stage.lower() == "s1"`), []string{`campaign "c": when:1:20: undeclared reference to 'lower' (did you mean 'lowerAscii'?)`}},
		{"a CEL error on the second line of When names that line",
			config("when: |-", `      profile.orders > 1 &&`, `      profile.tier = "gold"`), []string{`campaign "c": when:2:14: Syntax error`}},

		{"a holdout above 0.5 is an error",
			config("holdout: 0.6"), []string{`campaign "c": holdout: 0.6 is not between 0 and 0.5`}},
		{"a negative holdout is an error",
			config("holdout: -0.1"), []string{`campaign "c": holdout: -0.1 is not between 0 and 0.5`}},
		{"a variant of weight 0 is an error",
			config("variants: [{name: a, weight: 1}, {name: b, weight: 0}]"), []string{`campaign "c": variant "b": weight: 0 is not a positive number`}},
		{"a variant without a weight is an error",
			config("variants: [{name: a}]"), []string{`campaign "c": variant "a": weight: 0 is not a positive number`}},
		{"a variant of infinite weight is an error",
			config("variants: [{name: a, weight: .inf}]"), []string{`campaign "c": variant "a": weight: +Inf is not a positive number`}},
		{"a variant of negative weight is an error",
			config("variants: [{name: a, weight: -1}]"), []string{`campaign "c": variant "a": weight: -1 is not a positive number`}},
		{"two variants of one name are an error",
			config("variants: [{name: a, weight: 1}, {name: a, weight: 1}]"), []string{`campaign "c": variant "a": name: used by an earlier variant`}},
		{"a variant without a name is an error naming its position",
			config("variants: [{name: a, weight: 1}, {weight: 1}]"), []string{`campaign "c": variant #2: name: missing`}},
		{"an unknown channel is an error listing the channels",
			config("channel: whatsapp"), []string{`campaign "c": channel: "whatsapp" is not one of email, sms, push, line`}},
		{"two campaigns of one name are an error",
			config() + "  - " + strings.TrimPrefix(config(), "campaigns:\n  - "), []string{`campaign "c": name: used by an earlier campaign`}},
		{"a campaign without a name is an error naming its position",
			config("-name"), []string{`campaign #1: name: missing`}},

		{"an unknown event type is an error",
			config("on: [segflow.cart.item_added]"), []string{`campaign "c": on: "segflow.cart.item_added" is not an event type`}},
		{"an event campaign without entry events is an error",
			config("-on"), []string{`campaign "c": on: missing`}},
		{"a birthday campaign with entry events is an error",
			config("kind: birthday"), []string{`campaign "c": on: a birthday campaign is entered by time, not by events`}},
		{"cancel events without a delay are an error",
			config("cancel_on: [segflow.purchase.order_completed]"), []string{`campaign "c": cancel_on: only a pending delay can be cancelled`}},
		{"restart without a delay is an error",
			config("restart: true"), []string{`campaign "c": restart: only a pending delay can be restarted`}},
		{"a browse abandon campaign without views, window or delay is an error",
			config("kind: browse_abandon"), []string{`campaign "c": delay: missing`, `campaign "c": views: must be at least 1`, `campaign "c": window: missing`}},
		{"views on another kind are an error",
			config("views: 3"), []string{`campaign "c": views, window: only browse_abandon campaigns count views`}},
		{"a lead on another kind is an error",
			config("lead: 2h"), []string{`campaign "c": lead: only habit campaigns have one`}},
		{"a cap of zero is an error",
			config("caps: [{max: 0, per: 24h}]"), []string{`campaign "c": caps[0]: max: must be at least 1`}},
		{"a cap without a period is an error",
			"caps: [{max: 3}]\n", []string{`caps[0]: per: missing`}},
		{"a negative daily budget is an error",
			config("daily_budget: -1"), []string{`campaign "c": daily_budget: -1 is negative`}},

		{"a points action without points is an error",
			config("action: {type: points, params: {reason: vip}}"), []string{`campaign "c": variant "default": action: params.points: missing`}},
		{"a points action of a fraction of a point is an error",
			config(`action: {type: points, params: {points: "1.5"}}`), []string{`params.points: "1.5" is not a positive whole number`}},
		{"a points action valid for no duration is an error",
			config(`action: {type: points, params: {points: "10", valid: "a year"}}`), []string{`params.valid: "a year" is not a duration`}},
		{"an unknown action type is an error",
			config("action: {type: voucher}"), []string{`campaign "c": action: type: "voucher" is not one of coupon, points, message`}},
		{"a CEL error in a parameter names it, with its position",
			config(`action: {type: coupon, params: {value: "${profile.tier ==}"}}`), []string{`campaign "c": action.params.value:1:16: Syntax error`}},
		{"a CEL error in a variant's parameter names the variant",
			config("variants: [{name: a, weight: 1, action: {params: {value: '${tier}'}}}]"), []string{`campaign "c": variant "a": action.params.value:1:1: undeclared reference to 'tier'`}},
		{"a parameter of a list is an error",
			config(`action: {type: message, params: {skus: "${['a', 'b']}"}}`), []string{`campaign "c": action.params.skus: must be string or int or uint or double or bool or dyn, is list(string)`}},
		{"an expression inside a parameter's text is an error",
			config(`action: {type: message, params: {greeting: "Hi ${profile.traits.name}"}}`), []string{`campaign "c": action.params.greeting: an expression ${...} must be the whole value`}},
		{"an unknown action type in a variant is an error",
			config("variants: [{name: a, weight: 1, action: {type: voucher}}]"), []string{`campaign "c": variant "a": action: type: "voucher" is not one of`}},

		{"quiet hours that are not times of day are an error",
			"quiet_hours: {start: 9pm, end: \"09:00\"}\n", []string{`quiet_hours: start: "9pm" is not a time of day HH:MM`}},
		{"quiet hours that start when they end are an error",
			"quiet_hours: {start: \"09:00\", end: \"09:00\"}\n", []string{`quiet_hours: start and end are both 09:00`}},
		{"an unknown default time zone is an error",
			"default_timezone: Mars/Olympus\n", []string{`default_timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"every problem is reported at once",
			config("kind: sale", "channel: fax", "holdout: 1"), []string{`kind: "sale"`, `channel: "fax"`, `holdout: 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error =\n%v\nwant one containing %q", err, w)
				}
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(config("kind: cart_abandon", "on: [segflow.cart.product_added]", "cancel_on: [profile.changed]")))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Campaigns[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"the default time zone is UTC", c.DefaultTimezone, "UTC"},
		{"the default location is UTC", c.Location(""), time.UTC},
		{"a cart abandon campaign waits 30 minutes", time.Duration(k.Delay), 30 * time.Minute},
		{"the attribution window is 7 days", time.Duration(k.Attribution), 7 * 24 * time.Hour},
		{"a campaign without variants has the default one", len(k.Variants) == 1 && k.Variants[0].Name == DefaultVariant && k.Variants[0].Weight == 1, true},
		{"profile.changed stands for its CloudEvent type", k.CancelOn[0], "segflow.profile.changed"},
		{"no holdout", k.Holdout, 0.0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseOfAnEmptyFileIsNoCampaigns(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Campaigns) != 0 || c.QuietHours != nil || c.DefaultTimezone != "UTC" {
		t.Errorf("Parse(nil) = %+v, want no campaigns in UTC", c)
	}
}

func TestLoadOfAMissingFileIsAnError(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: error = %v, want not exist", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(path, []byte(config("channel: fax")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load error = %v, want one naming %s", err, path)
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		name string
		text string
		want time.Duration
	}{
		{"minutes are read as Go writes them", "30m", 30 * time.Minute},
		{"hours and minutes add up", "1h30m", 90 * time.Minute},
		{"a day count is 24 hours a day", "7d", 7 * 24 * time.Hour},
		{"zero is zero", "0", 0},
		{"zero days are zero", "0d", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(config("cooldown: " + tt.text)))
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(c.Campaigns[0].Cooldown); got != tt.want {
				t.Errorf("cooldown %s = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"30", "30 min", "-1h", "-1d", "7 d", "1.5d", "d", "1w", "[1h]"} {
		t.Run(bad+" is not a duration", func(t *testing.T) {
			if _, err := Parse([]byte(config("cooldown: " + bad))); err == nil || !strings.Contains(err.Error(), "is not a duration") {
				t.Errorf("cooldown %s: error = %v, want not a duration", bad, err)
			}
		})
	}
}

func TestParams(t *testing.T) {
	c, err := Parse([]byte(config(
		"-action",
		"action:",
		"  type: coupon",
		"  params:",
		"    plain: '10'",
		"    cart: '${profile.cart_value}'",
		"    double: '${profile.cart_value * 2.0}'",
		"    orders: '${profile.orders + 1}'",
		"    big: '${profile.tier in [\"gold\", \"platinum\"]}'",
		"    sku: '${event.data.product.sku}'",
		"variants:",
		"  - {name: a, weight: 1}",
		"  - {name: b, weight: 1, action: {type: points, params: {points: '${profile.orders * 100}'}}}",
	)))
	if err != nil {
		t.Fatal(err)
	}
	k := &c.Campaigns[0]
	in := Input{
		Event:   ev("segflow.profile.changed", map[string]any{"product": map[string]any{"sku": "T1"}}),
		Profile: customer("cart_value", 59.9, "orders", 3, "tier", "gold"),
	}
	got, err := k.Params(in, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plain": "10", "cart": "59.9", "double": "119.8", "orders": "4", "big": "true", "sku": "T1"}
	if !maps.Equal(got, want) {
		t.Errorf("variant a: Params = %v, want %v", got, want)
	}
	if got, want := k.ActionType("a"), "coupon"; got != want {
		t.Errorf("variant a: ActionType = %q, want %q", got, want)
	}

	got, err = k.Params(in, "b")
	if err != nil {
		t.Fatal(err)
	}
	want["points"] = "300"
	if !maps.Equal(got, want) {
		t.Errorf("variant b: Params = %v, want %v", got, want)
	}
	if got, want := k.ActionType("b"), "points"; got != want {
		t.Errorf("variant b: ActionType = %q, want %q", got, want)
	}

	errs := []struct {
		name    string
		in      Input
		variant string
		want    string
	}{
		{"an unknown variant is an error", in, "c", `campaign "c": no variant "c"`},
		{"a missing key is an error naming the parameter", Input{Profile: customer()}, "a", `campaign "c": variant "a": params.sku: no such key: data`},
		{"a list at run time is an error naming the parameter",
			Input{Event: ev("x", map[string]any{"product": map[string]any{"sku": []any{"T1"}}}), Profile: customer()}, "a",
			`params.sku: is a list(dyn), not a string, number or bool`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.Params(tt.in, tt.variant); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Params error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	c, err := Parse([]byte(config(`when: profile.tier == "gold"`)))
	if err != nil {
		t.Fatal(err)
	}
	k := &c.Campaigns[0]
	tests := []struct {
		name    string
		in      Input
		want    bool
		wantErr string
	}{
		{"an entry event for which When holds matches", Input{Event: ev("segflow.profile.changed", nil), Profile: customer("tier", "gold")}, true, ""},
		{"an entry event for which When does not hold does not match", Input{Event: ev("segflow.profile.changed", nil), Profile: customer()}, false, ""},
		{"another event does not match, whatever When says", Input{Event: ev("segflow.cart.product_added", nil), Profile: customer("tier", "gold")}, false, ""},
		{"no event does not match", Input{Profile: customer("tier", "gold")}, false, ""},
		{"a key missing from the profile is an error", Input{Event: ev("segflow.profile.changed", nil)}, false, `campaign "c": when: no such key: tier`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Matches(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Matches error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Matches = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestABroadcastEntersAnyCampaignAndABroadcastCampaignNothingElse(t *testing.T) {
	c, err := Parse([]byte(config() + "  - {name: b, kind: broadcast, channel: email, action: {type: points, params: {points: \"100\"}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		campaign, event string
		want            bool
	}{
		{"c", BroadcastEvent, true},
		{"b", BroadcastEvent, true},
		{"b", "segflow.profile.changed", false},
		{"b", DueEvent, false},
	} {
		k := &c.Campaigns[0]
		if tt.campaign == "b" {
			k = &c.Campaigns[1]
		}
		if got, err := k.Matches(Input{Event: ev(tt.event, nil), Profile: customer()}); err != nil || got != tt.want {
			t.Errorf("%s on %s: %t, %v; want %t", tt.campaign, tt.event, got, err, tt.want)
		}
	}
}

func TestACampaignNotFromParseIsRefused(t *testing.T) {
	k := &Campaign{Name: "hand", Kind: KindLifecycle, On: []string{"segflow.profile.changed"}, When: "false"}
	if _, err := k.Matches(Input{Event: ev("segflow.profile.changed", nil)}); !errors.Is(err, errNotCompiled) {
		t.Errorf("Matches error = %v, want not compiled", err)
	}
	if _, err := k.Params(Input{}, DefaultVariant); !errors.Is(err, errNotCompiled) {
		t.Errorf("Params error = %v, want not compiled", err)
	}
}

func TestCancels(t *testing.T) {
	c := loadExample(t)
	k := c.campaign(t, "cart_abandon_coupon")
	if !k.Cancels("segflow.purchase.order_completed") {
		t.Error("an order completed does not cancel cart abandon")
	}
	if k.Cancels("segflow.cart.product_added") {
		t.Error("an item added cancels cart abandon; it should restart it")
	}
}

func TestLocation(t *testing.T) {
	c, err := Parse([]byte("default_timezone: Asia/Taipei\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tz   string
		want string
	}{
		{"a customer's time zone is used", "America/New_York", "America/New_York"},
		{"no time zone is the default", "", "Asia/Taipei"},
		{"an unknown time zone is the default", "Mars/Olympus", "Asia/Taipei"},
		{"the server's local time is never a customer's", "Local", "Asia/Taipei"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Location(tt.tz).String(); got != tt.want {
				t.Errorf("Location(%q) = %s, want %s", tt.tz, got, tt.want)
			}
		})
	}
}

func TestAConditionReadsTypedTraits(t *testing.T) {
	c, err := Parse([]byte(config(`when: profile.traits[?"city"].orValue("") == "Hong Kong" && profile.traits[?"age"].orValue(0) >= 18 && profile.traits[?"age"].orValue(0) <= 24`)))
	if err != nil {
		t.Fatal(err)
	}
	k := &c.Campaigns[0]
	for _, tt := range []struct {
		name   string
		traits map[string]any
		want   bool
	}{
		{"a 21-year-old in Hong Kong matches", map[string]any{"city": "Hong Kong", "age": 21.0}, true},
		{"a 25-year-old in Hong Kong does not", map[string]any{"city": "Hong Kong", "age": 25.0}, false},
		{"a 21-year-old in Taipei does not", map[string]any{"city": "Taipei", "age": 21.0}, false},
		{"a customer without the traits does not", map[string]any{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Matches(Input{Event: ev("segflow.profile.changed", nil), Profile: customer("traits", tt.traits)})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Matches = %t, want %t", got, tt.want)
			}
		})
	}
}
