package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/coupon"
)

// TestCampaignResultsReportTheCouponsOfEachVariantAndAllTreated issues codes
// of a campaign's two variants (A: 3, B: 1) as the trigger service does, and
// redeems some: A's first after 1h (order 40.00) and second after 4h (order
// 0.10), its third refused once as another customer's; B's after 2h (12.50).
func TestCampaignResultsReportTheCouponsOfEachVariantAndAllTreated(t *testing.T) {
	e := start(t, nil, nil)
	e.srvResults(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "codes.txt")
	if err := os.WriteFile(path, []byte("C1\nC2\nC3\nC4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	def := &coupon.Definition{Name: "spring", Pool: path, Value: coupon.Value{Percent: "10"}, Valid: coupon.Validity{Days: 30}}
	if errs := def.Compile(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	s := coupon.NewStore(e.rdb)
	codes := map[string]string{}
	for i, variant := range []string{"A", "A", "A", "B"} {
		c := fmt.Sprintf("c%d", i)
		d := coupon.Decision{ID: "d" + c, Campaign: "welcome", Variant: variant, Customer: c, At: T}
		is, _, err := s.Reserve(ctx, def, d)
		if err != nil || is.Code == "" {
			t.Fatal(is, err)
		}
		if err := s.Confirm(ctx, is.Code, d); err != nil {
			t.Fatal(err)
		}
		codes[c] = is.Code
	}
	for _, o := range []coupon.Order{
		{ID: "o1", Customer: "c0", Code: codes["c0"], At: T.Add(time.Hour), Revenue: 40_000_000},
		{ID: "o2", Customer: "c1", Code: codes["c1"], At: T.Add(4 * time.Hour), Revenue: 100_000},
		{ID: "o3", Customer: "c0", Code: codes["c2"], At: T.Add(time.Hour), Revenue: 1},
		{ID: "o4", Customer: "c3", Code: codes["c3"], At: T.Add(2 * time.Hour), Revenue: 12_500_000},
	} {
		if _, err := s.Redeem(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	err := e.rdb.HSet(ctx, "tr:{#stats:welcome}", "A|treated|decided", 3, "B|treated|decided", 1).Err()
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Campaigns []api.CampaignResult }
	e.get(t, "/v1/campaigns", &got)
	if len(got.Campaigns) != 1 || len(got.Campaigns[0].Variants) != 2 {
		t.Fatalf("campaigns %+v", got.Campaigns)
	}
	c := got.Campaigns[0]
	near := func(got float64, want time.Duration) bool {
		return got >= want.Seconds()*(1-coupon.RelativeAccuracy) && got <= want.Seconds()*(1+coupon.RelativeAccuracy)
	}
	// All treated: 3 of 4 redeemed, 52.60; times 1h, 2h, 4h: median 2h.
	if tc := c.Treated.Coupons; tc == nil || tc.Issued != 4 || tc.Redeemed != 3 || tc.Rate != 0.75 || tc.Revenue != "52.60" ||
		!near(tc.MedianToRedeem, 2*time.Hour) || tc.Refused["foreign"] != 1 {
		t.Errorf("treated coupons %+v, want 3 of 4 redeemed for 52.60 in a median 2h, 1 foreign", tc)
	}
	// A: 2 of 3, 40.10, times 1h and 4h: the lower median 1h.
	if ac := c.Variants[0].Coupons; c.Variants[0].Variant != "A" || ac == nil || ac.Issued != 3 || ac.Redeemed != 2 || ac.Revenue != "40.10" || !near(ac.MedianToRedeem, time.Hour) {
		t.Errorf("variant %s coupons %+v, want 2 of 3 redeemed for 40.10 in a median 1h", c.Variants[0].Variant, ac)
	}
	if bc := c.Variants[1].Coupons; bc == nil || bc.Issued != 1 || bc.Redeemed != 1 || bc.Revenue != "12.50" || len(bc.Refused) != 0 {
		t.Errorf("variant B coupons %+v, want 1 of 1 redeemed for 12.50", bc)
	}
	if c.Holdout.Coupons != nil {
		t.Errorf("holdout coupons %+v, want none", c.Holdout.Coupons)
	}
}
