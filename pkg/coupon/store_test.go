package coupon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/testenv"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func poolDef(t *testing.T, name string, n int) *Definition {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s-%03d\n", name, i)
	}
	d := &Definition{Name: name, Pool: pool(t, b.String()), Value: Value{Percent: "10"}, Valid: Validity{Days: 7}}
	if errs := d.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	return d
}

// reserve is Store.Reserve's code.
func reserve(ctx context.Context, s *Store, d *Definition, dec Decision) (string, Unavailable, error) {
	is, why, err := s.Reserve(ctx, d, dec)
	return is.Code, why, err
}

// issue reserves and confirms a code of d for decision i, as a send does.
func issue(t *testing.T, s *Store, d *Definition, i int) string {
	t.Helper()
	code, _, err := reserve(context.Background(), s, d, dec(i))
	if err != nil || code == "" {
		t.Fatalf("decision %d got code %q: %v", i, code, err)
	}
	if err := s.Confirm(context.Background(), code, dec(i)); err != nil {
		t.Fatal(err)
	}
	return code
}

func dec(i int) Decision {
	return Decision{ID: fmt.Sprintf("dec-%d", i), Campaign: "camp", Variant: "a", Customer: fmt.Sprintf("cust-%d", i), At: t0}
}

func TestEachDecisionTakesOnePoolCodeOnceAndNoCodeGoesToTwo(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	d := poolDef(t, "spring", 150)
	const decisions = 200
	codes := make([]string, decisions)
	whys := make([]Unavailable, decisions)
	reserve := func(s *Store) {
		var wg sync.WaitGroup
		errs := make([]error, decisions)
		for i := range decisions {
			wg.Go(func() {
				code, why, err := reserve(ctx, s, d, dec(i))
				if codes[i] != "" && code != codes[i] {
					errs[i] = fmt.Errorf("decision %d got %q again, had %q", i, code, codes[i])
				}
				codes[i], whys[i], errs[i] = code, why, err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	reserve(NewStore(rdb))
	reserve(NewStore(rdb)) // a restart: every decision redelivered, the file loaded again
	byCode := map[string]int{}
	exhausted := 0
	for i, c := range codes {
		if c == "" {
			if whys[i] != Exhausted {
				t.Errorf("decision %d: no code, because %q; want exhausted", i, whys[i])
			}
			exhausted++
			continue
		}
		byCode[c]++
	}
	if len(byCode) != 150 || exhausted != 50 {
		t.Errorf("%d distinct codes and %d decisions without, want 150 and 50", len(byCode), exhausted)
	}
	for c, n := range byCode {
		if n > 1 || !strings.HasPrefix(c, "SPRING-") {
			t.Errorf("code %s went to %d decisions", c, n)
		}
	}
}

func TestAReleasedPoolCodeGoesToTheNextDecisionAndAConfirmedOneStays(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	s := NewStore(rdb)
	d := poolDef(t, "one", 1)
	code, _, err := reserve(ctx, s, d, dec(1))
	if err != nil || code != "ONE-000" {
		t.Fatalf("code %q, %v", code, err)
	}
	if err := s.Release(ctx, d, code, dec(1).ID); err != nil {
		t.Fatal(err)
	}
	if got, _, err := reserve(ctx, s, d, dec(2)); err != nil || got != code {
		t.Fatalf("after a release the next decision got %q (%v), want %s", got, err, code)
	}
	if err := s.Confirm(ctx, code, dec(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, d, code, dec(2).ID); err != nil {
		t.Fatal(err)
	}
	if got, why, _ := reserve(ctx, s, d, dec(3)); got != "" || why != Exhausted {
		t.Errorf("after the code was issued another decision got %q (%q), want none: exhausted", got, why)
	}
	res, err := s.Results(ctx, "camp")
	if err != nil {
		t.Fatal(err)
	}
	if res["a"].Issued != 1 {
		t.Errorf("issued %d, want 1", res["a"].Issued)
	}
}

func TestCodesAddedToThePoolFileAreAddedAndIssuedOnesAreNotReturned(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	d := poolDef(t, "p", 2)
	s := NewStore(rdb)
	for i := range 2 {
		issue(t, s, d, i)
	}
	more := poolDef(t, "p", 3) // the same two codes and a new one
	s = NewStore(rdb)          // loaded again after a restart
	code, _, err := reserve(ctx, s, more, dec(2))
	if err != nil || code != "P-002" {
		t.Errorf("after the file gained P-002 the next decision got %q (%v), want P-002", code, err)
	}
	if got, why, _ := reserve(ctx, s, more, dec(3)); got != "" || why != Exhausted {
		t.Errorf("then %q (%q), want none: exhausted", got, why)
	}
}

func TestAnOrderRedeemsItsCustomersCodeOnceAndOthersAreRefusedWithTheirReason(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	s := NewStore(rdb)
	d := poolDef(t, "c", 2)
	one, two := issue(t, s, d, 1), issue(t, s, d, 2)
	// A third code reserved and never confirmed (its decision was not a send).
	reserved := poolDef(t, "r", 1)
	unsent, _, err := reserve(ctx, s, reserved, dec(3))
	if err != nil || unsent == "" {
		t.Fatal(unsent, err)
	}
	type want struct {
		campaign string
		redeemed bool
		refused  Reason
		again    bool
	}
	steps := []struct {
		name  string
		order Order
		want  want
	}{
		{"the customer's first order redeems the code, typed in lower case", Order{ID: "o1", Customer: "cust-1", Code: " " + strings.ToLower(one) + " ", At: t0.Add(2 * time.Hour), Revenue: 59_900_000}, want{"camp", true, "", false}},
		{"the same order again changes nothing", Order{ID: "o1", Customer: "cust-1", Code: one, At: t0.Add(2 * time.Hour), Revenue: 59_900_000}, want{"camp", true, "", true}},
		{"a second order is refused: used", Order{ID: "o2", Customer: "cust-1", Code: one, At: t0.Add(3 * time.Hour), Revenue: 10_000_000}, want{"camp", false, Used, false}},
		{"the refused order again changes nothing", Order{ID: "o2", Customer: "cust-1", Code: one, At: t0.Add(3 * time.Hour), Revenue: 10_000_000}, want{"camp", false, Used, true}},
		{"another customer's order is refused: foreign", Order{ID: "o3", Customer: "cust-1", Code: two, At: t0.Add(time.Hour), Revenue: 1}, want{"camp", false, Foreign, false}},
		{"an order after the expiry is refused: expired", Order{ID: "o4", Customer: "cust-2", Code: two, At: t0.Add(7*24*time.Hour + time.Millisecond), Revenue: 1}, want{"camp", false, Expired, false}},
		{"an order at the expiry redeems", Order{ID: "o5", Customer: "cust-2", Code: two, At: t0.Add(7 * 24 * time.Hour), Revenue: 12_500_000}, want{"camp", true, "", false}},
		{"a code never issued is left alone", Order{ID: "o6", Customer: "cust-1", Code: "MAYDEALS", At: t0}, want{}},
		{"a code reserved and never sent is left alone", Order{ID: "o7", Customer: "cust-3", Code: unsent, At: t0}, want{}},
	}
	for _, st := range steps {
		r, err := s.Redeem(ctx, st.order)
		if err != nil {
			t.Fatal(err)
		}
		if got := (want{r.Campaign, r.Redeemed, r.Refused, r.Again}); got != st.want {
			t.Errorf("%s: %+v, want %+v", st.name, got, st.want)
		}
	}
	res, err := s.Results(ctx, "camp")
	if err != nil {
		t.Fatal(err)
	}
	a := res["a"]
	wantRefused := map[Reason]int64{Used: 1, Foreign: 1, Expired: 1}
	if a.Issued != 2 || a.Redeemed != 2 || a.Rate() != 1 || fmt.Sprint(a.Refused) != fmt.Sprint(wantRefused) {
		t.Errorf("issued %d, redeemed %d (rate %v), refused %v; want 2, 2 (1), %v", a.Issued, a.Redeemed, a.Rate(), a.Refused, wantRefused)
	}
	if got := money.FormatSum(a.Revenue, "USD"); got != "72.40" {
		t.Errorf("revenue %s, want 59.90 + 12.50 = 72.40", got)
	}
	// Times to redeem: 2h and 7 days; the lower median is 2h.
	if m := a.MedianToRedeem(); !near(m, 2*time.Hour) {
		t.Errorf("median time to redeem %s, want 2h within 1%%", m)
	}
}

func TestRevenueBeyondOneRedisFieldStaysExact(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	s := NewStore(rdb)
	d := poolDef(t, "big", 40)
	want := money.Sum{}
	for i := range 40 {
		code := issue(t, s, d, i)
		total := money.MaxAmount - money.Micros(i)
		want = want.Add(total)
		if _, err := s.Redeem(ctx, Order{ID: fmt.Sprint(i), Customer: dec(i).Customer, Code: code, At: t0.Add(time.Hour), Revenue: total}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Results(ctx, "camp")
	if err != nil {
		t.Fatal(err)
	}
	if got := res["a"].Revenue; got.Cmp(want) != 0 {
		t.Errorf("revenue %s, want %s", got, want)
	}
}

// near tells whether got is want within RelativeAccuracy.
func near(got, want time.Duration) bool {
	diff := float64(got-want) / float64(want)
	return diff >= -RelativeAccuracy-1e-9 && diff <= RelativeAccuracy+1e-9
}

func TestADecisionReservedAgainLaterKeepsItsCodeAndExpiry(t *testing.T) {
	ctx := context.Background()
	s := NewStore(testenv.StartRedis(t).Client(t))
	t.Setenv(secretEnv, "0123456789abcdef0123")
	d := &Definition{Name: "g", Generate: &Generate{SecretEnv: secretEnv}, Value: Value{Amount: "5"}, Valid: Validity{Days: 7}}
	if errs := d.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	first, _, err := s.Reserve(ctx, d, dec(1))
	if err != nil {
		t.Fatal(err)
	}
	later := dec(1)
	later.At = t0.Add(time.Hour) // handled again an hour later, after a crash
	again, _, err := s.Reserve(ctx, d, later)
	if err != nil {
		t.Fatal(err)
	}
	if again != first || !again.Expires.Equal(t0.AddDate(0, 0, 7)) {
		t.Errorf("reserved again: %+v, first %+v; want the same, expiring 7 days after the first", again, first)
	}
}
