package campaign

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTheExampleBirthdayCouponIsWorthMoreForHigherTiers(t *testing.T) {
	d := loadExample(t).campaign(t, "birthday_coupon").CouponOf(DefaultVariant)
	if d == nil || len(d.Codes()) < 100 {
		t.Fatalf("coupon %+v, want the birthday pool", d)
	}
	for tier, want := range map[string]string{"platinum": "800", "gold": "500", "member": "200"} {
		if got := d.Issue("X", tier, t0); got.Value != want || got.Kind != "amount" || !got.Expires.Equal(t0.Add(30*24*time.Hour)) {
			t.Errorf("a %s member's birthday coupon: %+v, want %s off for 30 days", tier, got, want)
		}
	}
}

func TestCampaignsNameTheirCouponAndPoolsAreReadBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("spring.txt", "s-1\ns-2\n")
	path := write("campaigns.yaml", `
coupons:
  - {name: spring, pool: spring.txt, value: {percent: "10"}, valid: {days: 7}}
  - {name: big, pool: spring.txt, value: {amount: "100"}, valid: {days: 7}}
campaigns:
  - name: sale
    kind: lifecycle
    on: [segflow.cart.checkout_started]
    channel: email
    action: {type: coupon}
    coupon: spring
    variants: [{name: a, weight: 1}, {name: b, weight: 1, coupon: big}, {name: c, weight: 1, action: {type: message}, coupon: none}]
`)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), `variant "c": coupon: the action's type is message, not coupon`) {
		t.Fatalf("error %v, want variant c's coupon refused for its message", err)
	}
	b, _ := os.ReadFile(path)
	write("campaigns.yaml", strings.Replace(string(b), ", coupon: none", "", 1))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sale := c.campaign(t, "sale")
	if a, b := sale.CouponOf("a"), sale.CouponOf("b"); a == nil || a.Name != "spring" || b == nil || b.Name != "big" || len(a.Codes()) != 2 {
		t.Errorf("coupons of a and b: %+v and %+v, want spring with the file's 2 codes and big", a, b)
	}
	if sale.CouponOf("c") != nil {
		t.Errorf("variant c sends a message and should carry no coupon")
	}
}

func TestCouponProblemsAreReportedByCouponAndCampaign(t *testing.T) {
	_, err := Parse([]byte(`
coupons:
  - {name: x, value: {percent: "10"}, valid: {days: 7}}
campaigns:
  - {name: m, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}, coupon: x}
  - {name: n, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: coupon}, coupon: nope}
`))
	for _, want := range []string{`coupon "x": pool, generate: one is needed`, `campaign "m": coupon: the action's type is message, not coupon`,
		`campaign "n": variant "default": coupon: "nope" is not one of the coupons`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}
