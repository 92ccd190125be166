package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/segflow/segflow/pkg/coupon"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/trigger"
)

// Value is a sum of customer values and its average.
type Value struct {
	Customers int    `json:"customers"`
	Total     string `json:"total"`
	Average   string `json:"average"`
}

// value is n customers' values summing to total, with their average rounded
// half away from zero to the micro. The total is a 128-bit money.Sum: each
// value is at most money.MaxSum, and a population far beyond any Redis can
// hold cannot overflow it.
func value(n int, total money.Sum, currency string) Value {
	return Value{Customers: n, Total: money.FormatSum(total, currency), Average: money.Format(total.Mean(int64(n)), currency)}
}

// CustomerValue is one customer's historical CLV.
type CustomerValue struct {
	Customer string `json:"customer"`
	Segment  string `json:"segment,omitempty"`
	CLV      string `json:"clv"`
}

// CLV is the answer of GET /v1/metrics/clv.
type CLV struct {
	At       time.Time        `json:"at"`
	Currency string           `json:"currency"`
	Overall  Value            `json:"overall"`
	Segments map[string]Value `json:"segments"`
	// Customers is a page of customers' values, in id order.
	Customers  []CustomerValue `json:"customers"`
	NextCursor string          `json:"next_cursor,omitempty"`
	// Predicted is the predicted CLV; absent without a fitted model.
	Predicted *PredictedCLV `json:"predicted,omitempty"`
}

// PredictedCLV is the predicted CLV of the customers with a purchase: each
// one's CLV over the next 365 days, discounted (the profile's clv_365d), by
// the model Model as of AsOf (the view's last refresh), overall and by RFM
// segment at the request's time; and how many have a P(alive) in each tenth
// (PAlive[i]: i/10 ≤ P(alive) < (i+1)/10, and 1 in the last).
type PredictedCLV struct {
	Model       string           `json:"model"`
	AsOf        time.Time        `json:"as_of"`
	HorizonDays int              `json:"horizon_days"`
	Overall     Value            `json:"overall"`
	Segments    map[string]Value `json:"segments"`
	PAlive      [10]int64        `json:"p_alive_tenths"`
}

// getCLV reports historical CLV (lifetime spend: orders minus refunds, ever)
// per customer and on average, overall and by RFM segment; customers without
// a segment at T (no order in the window) are under "none". With a fitted
// model, predicted CLV beside it, likewise.
func (s *Server) getCLV(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	limit, err := s.limit(r, 100)
	if err != nil {
		return err
	}
	v, ns, err := s.view(ctx)
	if err != nil {
		return err
	}
	T := s.cfg.Now().UTC()
	all, by := v.Lifetimes(T)
	cur := ns.store.Currency()
	out := CLV{At: T, Currency: cur, Overall: value(int(all.Customers), all.Total, cur), Segments: map[string]Value{}, Customers: []CustomerValue{}}
	for seg, a := range by {
		if seg == "" {
			seg = "none"
		}
		out.Segments[seg] = value(int(a.Customers), a.Total, cur)
	}
	page := v.Members(T, nil, nil, r.URL.Query().Get("cursor"), limit)
	for _, m := range page.Members {
		out.Customers = append(out.Customers, CustomerValue{Customer: m.ID, Segment: m.Segment, CLV: money.Format(money.Micros(m.Lifetime), cur)})
	}
	out.NextCursor = page.Next
	if p, ok := v.PredictedCLV(T); ok {
		out.Predicted = &PredictedCLV{Model: p.Model, AsOf: p.At, HorizonDays: int(predict.DefaultCLV.Horizon / (24 * time.Hour)),
			Overall: value(int(p.All.Customers), p.All.Total, cur), Segments: map[string]Value{}, PAlive: p.PAlive}
		for seg, a := range p.BySegment {
			if seg == "" {
				seg = "none"
			}
			out.Predicted.Segments[seg] = value(int(a.Customers), a.Total, cur)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) limit(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > s.cfg.MaxPage {
		return 0, badf("limit must be 1 to %d", s.cfg.MaxPage)
	}
	return n, nil
}

// period reads from and to (RFC 3339 times or YYYY-MM-DD dates; to is
// exclusive) with defaults.
func period(r *http.Request, defFrom, defTo time.Time) (from, to time.Time, err error) {
	parse := func(name string, def time.Time) (time.Time, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, nil
		}
		return time.Time{}, badf("%s: %q is neither an RFC 3339 time nor a YYYY-MM-DD date", name, v)
	}
	if from, err = parse("from", defFrom); err != nil {
		return
	}
	if to, err = parse("to", defTo); err != nil {
		return
	}
	if !from.Before(to) {
		err = badf("from must be before to")
	}
	return
}

// Repurchase is the answer of GET /v1/metrics/repurchase: of the customers
// who bought in [from, to), the share who bought at least twice in it.
type Repurchase struct {
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
	Purchasers int        `json:"purchasers"`
	Repeat     int        `json:"repeat"`
	Rate       float64    `json:"rate"`
	RateCI     [2]float64 `json:"rate_ci95"`
}

func (s *Server) getRepurchase(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	T := s.cfg.Now()
	from, to, err := period(r, T.AddDate(-1, 0, 0), T)
	if err != nil {
		return err
	}
	v, ns, err := s.view(ctx)
	if err != nil {
		return err
	}
	everyone := v.Members(T, nil, nil, "", 0)
	all := make([]string, len(everyone.Members))
	for i, m := range everyone.Members {
		all[i] = m.ID
	}
	orders, err := ns.store.OrdersBetween(ctx, all, from, to)
	if err != nil {
		return err
	}
	out := Repurchase{From: from, To: to}
	for _, n := range orders {
		if n >= 1 {
			out.Purchasers++
		}
		if n >= 2 {
			out.Repeat++
		}
	}
	out.Rate = rate(int64(out.Repeat), int64(out.Purchasers))
	out.RateCI[0], out.RateCI[1] = Wilson(int64(out.Repeat), int64(out.Purchasers), z95)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// NESDay is a day's NES distribution: customers per stage, and among
// customers who bought (every stage but prospect) the share that is new (N)
// and existing (E0, S1, S2, S3).
type NESDay struct {
	Date          string           `json:"date"`
	Stages        map[string]int64 `json:"stages"`
	NewShare      float64          `json:"new_share"`
	ExistingShare float64          `json:"existing_share"`
}

func (s *Server) getNES(w http.ResponseWriter, r *http.Request) error {
	T := s.cfg.Now()
	from, to, err := period(r, time.Unix(0, 0), T.Add(24*time.Hour))
	if err != nil {
		return err
	}
	ns, err := s.live(r.Context())
	if err != nil {
		return err
	}
	days, err := ns.index.Days(r.Context(), from, to.Add(-time.Millisecond))
	if err != nil {
		return err
	}
	out := make([]NESDay, 0, len(days))
	for _, d := range days {
		n := d.Stages["N"]
		existing := d.Stages["E0"] + d.Stages["S1"] + d.Stages["S2"] + d.Stages["S3"]
		out = append(out, NESDay{Date: d.Date, Stages: d.Stages, NewShare: rate(n, n+existing), ExistingShare: rate(existing, n+existing)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": out})
	return nil
}

// Arm is a campaign's outcome for treated customers (one variant or all) or
// for the holdout.
type Arm struct {
	Variant   string     `json:"variant,omitempty"`
	Decided   int64      `json:"decided"` // sent, for treated arms; held out, for the holdout
	Converted int64      `json:"converted"`
	Rate      float64    `json:"conversion_rate"`
	RateCI    [2]float64 `json:"conversion_rate_ci95"`
	Revenue   string     `json:"revenue"`
	Lift      *Lift      `json:"lift,omitempty"`
	Coupons   *Coupons   `json:"coupons,omitempty"`
}

// Coupons is what the codes a treated arm's triggers carried did: issued,
// redeemed (rate of issued), the revenue of the redeeming orders, the median
// time from issue to redemption (within 1%), and orders refused by reason
// (foreign, used, expired).
type Coupons struct {
	Issued         int64            `json:"issued"`
	Redeemed       int64            `json:"redeemed"`
	Rate           float64          `json:"redemption_rate"`
	Revenue        string           `json:"revenue"`
	MedianToRedeem float64          `json:"median_seconds_to_redeem"`
	Refused        map[string]int64 `json:"refused"`
}

func couponsOf(r *coupon.Result, currency string) *Coupons {
	if r == nil {
		return nil
	}
	out := &Coupons{Issued: r.Issued, Redeemed: r.Redeemed, Rate: r.Rate(), Revenue: money.FormatSum(r.Revenue, currency),
		MedianToRedeem: r.MedianToRedeem().Seconds(), Refused: map[string]int64{}}
	for k, v := range r.Refused {
		out.Refused[string(k)] = v
	}
	return out
}

// Lift is a treated arm's conversion rate minus the holdout's, with its 95%
// confidence interval (Newcombe's hybrid score method), and the relative lift
// (rate / holdout rate − 1; absent when the holdout converted nobody).
type Lift struct {
	Difference float64    `json:"difference"`
	CI         [2]float64 `json:"ci95"`
	Relative   *float64   `json:"relative,omitempty"`
}

// CampaignResult is one campaign's results.
type CampaignResult struct {
	Campaign string `json:"campaign"`
	Treated  Arm    `json:"treated"`
	Holdout  Arm    `json:"holdout"`
	Variants []Arm  `json:"variants"`
}

func (s *Server) campaignNames(ctx context.Context) ([]string, error) {
	if s.cfg.Campaigns != nil {
		return s.cfg.Campaigns(), nil
	}
	return trigger.Campaigns(ctx, s.rdb)
}

func (s *Server) getCampaigns(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	names, err := s.campaignNames(ctx)
	if err != nil {
		return err
	}
	out := []CampaignResult{}
	for _, name := range names {
		if q := r.URL.Query().Get("campaign"); q != "" && q != name {
			continue
		}
		res, err := s.results.Results(ctx, name)
		if err != nil {
			return err
		}
		out = append(out, s.campaignResult(name, res))
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
	return nil
}

func (s *Server) campaignResult(name string, res []trigger.Result) CampaignResult {
	cur := s.store.Currency()
	arm := func(variant string, decided, converted, revenue int64) Arm {
		a := Arm{Variant: variant, Decided: decided, Converted: converted, Rate: rate(converted, decided), Revenue: money.Format(money.Micros(revenue), cur)}
		a.RateCI[0], a.RateCI[1] = Wilson(converted, decided, z95)
		return a
	}
	var hold, all trigger.Result
	var variants []trigger.Result
	for _, r := range res {
		if r.Group == trigger.Held {
			hold.Decided, hold.Converted, hold.Revenue = hold.Decided+r.Decided, hold.Converted+r.Converted, hold.Revenue+r.Revenue
			continue
		}
		variants = append(variants, r)
		all.Decided, all.Converted, all.Revenue = all.Decided+r.Decided, all.Converted+r.Converted, all.Revenue+r.Revenue
		if r.Coupons != nil {
			sum := r.Coupons.Plus(coupon.Result{})
			if all.Coupons != nil {
				sum = all.Coupons.Plus(*r.Coupons)
			}
			all.Coupons = &sum
		}
	}
	lift := func(a *Arm) {
		if a.Decided == 0 || hold.Decided == 0 {
			return
		}
		d, lo, hi := Newcombe(a.Converted, a.Decided, hold.Converted, hold.Decided, z95)
		a.Lift = &Lift{Difference: d, CI: [2]float64{lo, hi}}
		if hold.Converted > 0 {
			rel := a.Rate/rate(hold.Converted, hold.Decided) - 1
			a.Lift.Relative = &rel
		}
	}
	out := CampaignResult{Campaign: name, Treated: arm("", all.Decided, all.Converted, all.Revenue), Holdout: arm("", hold.Decided, hold.Converted, hold.Revenue), Variants: []Arm{}}
	lift(&out.Treated)
	out.Treated.Coupons = couponsOf(all.Coupons, cur)
	for _, v := range variants {
		a := arm(v.Variant, v.Decided, v.Converted, v.Revenue)
		lift(&a)
		a.Coupons = couponsOf(v.Coupons, cur)
		out.Variants = append(out.Variants, a)
	}
	return out
}
