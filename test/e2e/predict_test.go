package e2e

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gonum.org/v1/gonum/mathext"

	"github.com/segflow/segflow/pkg/fitting"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
)

// bgnbdParams are BG/NBD's r, α, a, b (weekly).
type bgnbdParams struct{ r, alpha, a, b float64 }

// publishedCDNOW are the parameters Fader, Hardie & Lee (2005) publish for
// the CDNOW sample's 39-week calibration.
var publishedCDNOW = bgnbdParams{0.243, 4.414, 0.793, 2.426}

// pAlive is P(alive | x, t_x, T), written out from the paper.
func (p bgnbdParams) pAlive(x int, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	return 1 / (1 + p.a/(p.b+float64(x)-1)*math.Pow((p.alpha+T)/(p.alpha+tx), p.r+float64(x)))
}

// atRiskAge finds by bisection the age at which P(alive) falls to theta.
func (p bgnbdParams) atRiskAge(x int, tx, theta float64) float64 {
	lo, hi := tx, tx+1e5
	for range 200 {
		mid := (lo + hi) / 2
		if p.pAlive(x, tx, mid) > theta {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// inputs are a customer's x, t_x and T (weeks) at T, from their orders.
type inputs struct {
	x       int
	tx, age float64
	first   time.Time
}

func calibrationInputs(orders []order, T time.Time) map[string]inputs {
	days := map[string][]time.Time{}
	for _, o := range orders {
		d := o.Time.UTC().Truncate(24 * time.Hour)
		if !slices.Contains(days[o.Customer], d) {
			days[o.Customer] = append(days[o.Customer], d)
		}
	}
	out := map[string]inputs{}
	week := float64(7 * 24 * time.Hour)
	for c, ds := range days {
		first, last := slices.MinFunc(ds, time.Time.Compare), slices.MaxFunc(ds, time.Time.Compare)
		out[c] = inputs{x: len(ds) - 1, tx: float64(last.Sub(first)) / week, age: float64(T.Sub(first)) / week, first: first}
	}
	return out
}

// TestCDNOWPredictionsFollowTheClosedFormsAndAtRiskFiresOnTime imports the
// CDNOW sample's 39-week calibration through the pipeline with the clock at
// its end, fits the models on the profiles, and checks the predictions and
// the at-risk instant against BG/NBD's closed forms.
func TestCDNOWPredictionsFollowTheClosedFormsAndAtRiskFiresOnTime(t *testing.T) {
	end := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC) // end of week 39
	var calibration []order
	for _, o := range loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt")) {
		if !o.Time.After(end) {
			calibration = append(calibration, o)
		}
	}
	clk := newClock(end)
	held := &heldModel{}
	p := startPipeline(t, clk.now, "USD", func(c *profile.Config) { c.Models = held })
	p.send(t, calibration)
	p.waitApplied(t, len(calibration), 3*time.Minute)
	ctx := context.Background()

	m, err := fitting.Refit(ctx, p.rdb, p.store, end, predict.Week)
	if err != nil {
		t.Fatal(err)
	}
	fitted := bgnbdParams{m.Purchases.R, m.Purchases.Alpha, m.Purchases.A, m.Purchases.B}
	for name, v := range map[string][2]float64{"r": {fitted.r, publishedCDNOW.r}, "alpha": {fitted.alpha, publishedCDNOW.alpha}, "a": {fitted.a, publishedCDNOW.a}, "b": {fitted.b, publishedCDNOW.b}} {
		if math.Abs(v[0]/v[1]-1) > 0.01 {
			t.Errorf("fitted %s = %.4f, published %.3f", name, v[0], v[1])
		}
	}
	if m.Purchases.Customers != 2357 || math.Abs(m.Purchases.LogLikelihood+9582.4) > 0.1 {
		t.Errorf("fit on %d customers, log-likelihood %.2f; want 2357 and -9582.4", m.Purchases.Customers, m.Purchases.LogLikelihood)
	}
	stored, ok, err := fitting.Load(ctx, p.rdb, "sf")
	if err != nil || !ok || stored.Version() != m.Version() {
		t.Fatalf("stored model %q (%v, %v), fitted %q", stored.Version(), ok, err, m.Version())
	}
	held.m.Store(&stored)

	// Predictions at the end of week 39 against the closed forms with the
	// published parameters.
	in := calibrationInputs(calibration, end)
	ids := make([]string, 0, len(in))
	for c := range in {
		ids = append(ids, c)
	}
	slices.Sort(ids)
	ids = ids[:40]
	ps, err := p.store.Get(ctx, end, ids)
	if err != nil {
		t.Fatal(err)
	}
	year := float64(365*24*time.Hour) / float64(predict.Week)
	for i, c := range ids {
		w, got := in[c], ps[i].Predicted
		if got == nil || got.Model != m.Version() {
			t.Fatalf("customer %s: predicted %+v, want model %s", c, got, m.Version())
		}
		if want := publishedCDNOW.pAlive(w.x, w.tx, w.age); math.Abs(got.PAlive-want) > 0.01 {
			t.Errorf("customer %s (x=%d, t_x=%.2f, T=%.2f): P(alive) %.4f, closed form %.4f", c, w.x, w.tx, w.age, got.PAlive, want)
		}
		if want := publishedCDNOW.conditional(w.x, w.tx, w.age, year); math.Abs(got.Purchases-want) > 0.02*want+0.001 {
			t.Errorf("customer %s (x=%d, t_x=%.2f, T=%.2f): E[Y(1 year)] %.4f, closed form %.4f", c, w.x, w.tx, w.age, got.Purchases, want)
		}
	}

	// The repeat customer who falls below P(alive) 0.3 first after the
	// refit's spread hour: the change is published at that instant.
	var target string
	var at time.Time
	for c, w := range in {
		if w.x == 0 {
			continue
		}
		a := w.first.Add(time.Duration(fitted.atRiskAge(w.x, w.tx, profile.DefaultAtRisk) * float64(predict.Week)))
		if a.After(end.Add(2*time.Hour)) && (target == "" || a.Before(at)) {
			target, at = c, a
		}
	}
	settle := func(T time.Time) {
		t.Helper()
		clk.set(T)
		deadline := time.Now().Add(time.Minute)
		for {
			n, err := p.store.Backlog(ctx, T)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d timers still due at %s", n, T)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	atRiskChanges := func() []profile.Change {
		var out []profile.Change
		for _, ch := range p.kafka.Changes(t, 0, 5*time.Second) {
			if ch.Customer == target && slices.Contains(ch.After.Tags, profile.TagAtRisk) && !slices.Contains(ch.Before.Tags, profile.TagAtRisk) {
				out = append(out, ch)
			}
		}
		return out
	}
	settle(end.Add(2 * time.Hour))
	settle(at.Add(-time.Second))
	if got := atRiskChanges(); len(got) != 0 {
		t.Fatalf("customer %s at risk before %s: %+v", target, at, got)
	}
	settle(at.Add(time.Second))
	got := atRiskChanges()
	if len(got) != 1 || got[0].Cause.Due.Sub(at).Abs() > time.Second {
		t.Fatalf("customer %s: at_risk changes %+v, want one due at %s", target, got, at)
	}
	t.Logf("customer %s at risk at %s (due %s), model %s", target, at, got[0].Cause.Due, m.Version())
}

// heldModel is the model the pipeline predicts with, set once fitted.
type heldModel struct{ m atomic.Pointer[predict.Model] }

func (h *heldModel) Model() (predict.Model, bool) {
	m := h.m.Load()
	if m == nil {
		return predict.Model{}, false
	}
	return *m, true
}

// conditional is E[Y(t) | x, t_x, T], written out from the paper (2F1 from
// gonum's mathext).
func (p bgnbdParams) conditional(x int, tx, T, t float64) float64 {
	fx := float64(x)
	h := mathext.Hypergeo(p.r+fx, p.b+fx, p.a+p.b+fx-1, t/(p.alpha+T+t))
	num := (p.a + p.b + fx - 1) / (p.a - 1) * (1 - math.Pow((p.alpha+T)/(p.alpha+T+t), p.r+fx)*h)
	return num * p.pAlive(x, tx, T)
}
