package coupon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const secretEnv = "SEGFLOW_COUPON_TEST_SECRET"

func pool(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "codes.txt")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefinitionsAreCheckedWithAReasonNamingTheField(t *testing.T) {
	t.Setenv(secretEnv, "0123456789abcdef0123")
	t.Setenv("SHORT_SECRET", "short")
	dup := pool(t, "a1\n# a comment\n\nA1\n")
	good := pool(t, "a1\nb2\n")
	gen := func(length int, env string) *Generate { return &Generate{Length: length, SecretEnv: env} }
	amount := Value{Amount: "100"}
	days := Validity{Days: 7}
	tests := []struct {
		name string
		def  Definition
		want string // "" for valid
	}{
		{"a pool with a percent and days is valid", Definition{Name: "p", Pool: good, Value: Value{Percent: "10"}, Valid: days}, ""},
		{"generated codes with tiers and a fixed end are valid", Definition{Name: "g", Generate: gen(0, secretEnv), Value: Value{Amount: "200", Tiers: map[string]string{"gold": "500"}}, Valid: Validity{Until: "2026-12-31T23:59:59+08:00"}}, ""},
		{"a coupon needs a name", Definition{Pool: good, Value: amount, Valid: days}, "name: missing"},
		{"a coupon needs a source of codes", Definition{Name: "x", Value: amount, Valid: days}, "one is needed"},
		{"a coupon has one source of codes", Definition{Name: "x", Pool: good, Generate: gen(0, secretEnv), Value: amount, Valid: days}, "only one"},
		{"a pool with a code twice in any case is refused", Definition{Name: "x", Pool: dup, Value: amount, Valid: days}, "already on line 1"},
		{"a missing pool file is refused", Definition{Name: "x", Pool: "/nonexistent/codes.txt", Value: amount, Valid: days}, "pool: open"},
		{"generated codes need a secret", Definition{Name: "x", Generate: gen(0, ""), Value: amount, Valid: days}, "secret_env: missing"},
		{"a short secret is refused", Definition{Name: "x", Generate: gen(0, "SHORT_SECRET"), Value: amount, Valid: days}, "holds 5 bytes"},
		{"generated codes of fewer than 60 bits are refused", Definition{Name: "x", Generate: gen(8, secretEnv), Value: amount, Valid: days}, "length: 8"},
		{"a value is a percent or an amount, not both", Definition{Name: "x", Pool: good, Value: Value{Percent: "10", Amount: "5"}, Valid: days}, "one of percent and amount"},
		{"a percent above 100 is refused", Definition{Name: "x", Pool: good, Value: Value{Percent: "150"}, Valid: days}, "percent: \"150\""},
		{"a tier's bad amount is refused", Definition{Name: "x", Pool: good, Value: Value{Amount: "1", Tiers: map[string]string{"gold": "-3"}}, Valid: days}, "tiers: gold"},
		{"validity is days or an end", Definition{Name: "x", Pool: good, Value: amount}, "valid: give one"},
		{"an end that is no time is refused", Definition{Name: "x", Pool: good, Value: amount, Valid: Validity{Until: "tomorrow"}}, "until: \"tomorrow\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.def.Compile("")
			got := ""
			for _, err := range errs {
				got += err.Error() + "; "
			}
			if tt.want == "" && len(errs) > 0 || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("errors %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPoolIsReadRelativeToTheCampaignsFileNormalizedAndInOrder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "codes.txt"), []byte(" spring-01 \n# not a code\n\nSPRING-02\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := Definition{Name: "spring", Pool: "codes.txt", Value: Value{Percent: "10"}, Valid: Validity{Days: 1}}
	if errs := d.Compile(dir); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := d.Codes(); !slices.Equal(got, []string{"SPRING-01", "SPRING-02"}) {
		t.Errorf("codes %q", got)
	}
}

func TestGeneratedCodesAreTheHMACOfCouponCustomerAndDecisionInBase32(t *testing.T) {
	const secret = "a secret of more than sixteen bytes"
	t.Setenv(secretEnv, secret)
	d := Definition{Name: "bday", Generate: &Generate{Length: 20, Prefix: "BD-", SecretEnv: secretEnv}, Value: Value{Amount: "1"}, Valid: Validity{Days: 1}}
	if errs := d.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	// Independently: HMAC-SHA256 keyed by the secret, base32 without padding.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("bday\x00cust-1\x00dec-1"))
	want := "BD-" + base32.StdEncoding.EncodeToString(mac.Sum(nil))[:20]
	if got := d.Generated("cust-1", "dec-1"); got != want {
		t.Errorf("code %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for _, c := range []string{"cust-1", "cust-2"} {
		for _, dec := range []string{"dec-1", "dec-2"} {
			code := d.Generated(c, dec)
			if seen[code] || len(code) != 23 || code != Normalize(code) {
				t.Errorf("code %q for %s %s: want 23 characters, upper case, unique", code, c, dec)
			}
			seen[code] = true
		}
	}
}

func TestAValueDependsOnTheTierAndAnExpiryOnTheValidity(t *testing.T) {
	T := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	d := Definition{Name: "b", Pool: pool(t, "X\n"), Value: Value{Amount: "200", Tiers: map[string]string{"gold": "500", "platinum": "800"}}, Valid: Validity{Days: 30}}
	if errs := d.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	for tier, want := range map[string]string{"platinum": "800", "gold": "500", "member": "200", "": "200"} {
		if got := d.Issue("X", tier, T); got.Value != want || got.Kind != Amount || !got.Expires.Equal(T.AddDate(0, 0, 30)) {
			t.Errorf("tier %q: %+v, want amount %s until 30 days later", tier, got, want)
		}
	}
	end := Definition{Name: "e", Pool: pool(t, "X\n"), Value: Value{Percent: "15"}, Valid: Validity{Until: "2026-06-01T00:00:00+08:00"}}
	if errs := end.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := end.Issue("X", "gold", T); got.Kind != Percent || got.Value != "15" || !got.Expires.Equal(time.Date(2026, 5, 31, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("%+v, want 15 percent until the fixed end", got)
	}
}

func TestTheMedianTimeToRedeemIsWithinItsAccuracyOfTheExactMedian(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + r.IntN(50)
		times := make([]time.Duration, n)
		buckets := map[int]int64{}
		for i := range times {
			// From a second to 60 days, spread over orders of magnitude.
			times[i] = time.Duration(float64(time.Second) * float64(int64(1)<<r.IntN(23)) * (1 + r.Float64()))
			buckets[bucket(times[i])]++
		}
		slices.Sort(times)
		exact := times[(n-1)/2] // the lower median
		got := median(buckets)
		if diff := float64(got-exact) / float64(exact); diff > RelativeAccuracy+1e-9 || diff < -RelativeAccuracy-1e-9 {
			t.Fatalf("trial %d: median %s, exact %s: off by %.4f, more than %.4f", trial, got, exact, diff, RelativeAccuracy)
		}
	}
	if got := median(nil); got != 0 {
		t.Errorf("median of nothing %s, want 0", got)
	}
}
