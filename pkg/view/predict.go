package view

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
)

// Predictions. A full CLV prediction costs microseconds a customer, too
// much to make for the whole population at each question; so the view
// keeps every customer's P(alive), predicted CLV and CLV decile as of its
// last refresh (View.Predict), made in the background when the model
// changes and every few minutes (Views), and questions read them. A
// refresh copies the model inputs under the lock, predicts without it and
// installs the results under it again; a customer removed meanwhile has
// none. Between refreshes a customer keeps the prediction of the last one
// (their changes since count at the next), a customer new since has none,
// and a removed one has none at once. Predictions cost 17 bytes a
// customer, only once a model is fitted (and, during a refresh, 40 more a
// customer predicted, for the copy of the inputs and the sort).
//
// At 1M customers (BenchmarkPredict, 2 cores), a refresh takes 4.9 s, 141
// times evaluating P(alive) alone for the same customers (35 ms), since a
// CLV sums 12 steps of the conditional expectation; predicted CLV by
// segment then takes 25 ms and a page of a decile 22 ms (0.7 and 0.64
// times that baseline): a pass over the rows, as counts take.

// predictions are every customer's predictions as of one refresh, by row.
type predictions struct {
	model string
	at    time.Time
	// by row, for the rows the refresh found: P(alive), NaN for none
	pAlive []float64
	clv    []int64 // micros, as profile.CLVMicros rounds it
	decile []uint8 // of clv among the customers predicted, 1–10; 0 for none
}

// inputs is what a refresh copies of one customer.
type inputs struct {
	row         int32
	days, first int32
	last        int64 // ms
	repeat      int64 // micros
}

// dayOf is the day number (since 1970-01-01 UTC) of the first purchase
// first of a customer with days purchase days; 0 without any.
func dayOf(first time.Time, days int) int32 {
	if days <= 0 || first.IsZero() {
		return 0
	}
	return int32(math.Floor(float64(first.UnixMilli()) / float64(day)))
}

// Predict refreshes the predictions of every customer with a purchase:
// what m says of them as of T, their CLV over predict.DefaultCLV (365
// days, as the profile's clv_365d) rounded to currency's minor unit, and
// its decile among them: 1 + ⌊10·b/n⌋ for n customers predicted, b of
// whom have a smaller CLV (so that equal CLVs share a decile, the 10th
// the highest). Questions keep being answered meanwhile, from the
// previous refresh; refreshes run one at a time.
func (v *View) Predict(m predict.Model, T time.Time, currency string) {
	v.refresh.Lock()
	defer v.refresh.Unlock()
	v.mu.Lock()
	var in []inputs
	rows := 0
	for row, c := range v.all() {
		rows = int(row) + 1
		if c.days > 0 {
			in = append(in, inputs{row: row, days: c.days, first: c.first, last: c.last, repeat: c.repeat})
		}
	}
	v.refreshing, v.dropped = true, v.dropped[:0]
	v.mu.Unlock()

	p := &predictions{model: m.Version(), at: T, pAlive: make([]float64, rows), clv: make([]int64, rows), decile: make([]uint8, rows)}
	for i := range p.pAlive {
		p.pAlive[i] = math.NaN()
	}
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(in); i += workers {
				x := &in[i]
				d := predict.DaysOf(int(x.days), time.UnixMilli(int64(x.first)*day), time.UnixMilli(x.last), money.Micros(x.repeat))
				c, ok := d.Customer(T, m.Purchases.Unit)
				if !ok {
					continue
				}
				pr := m.Predict(c, predict.DefaultCLV)
				p.pAlive[x.row], p.clv[x.row] = pr.PAlive, int64(profile.CLVMicros(pr.CLV, currency))
			}
		})
	}
	wg.Wait()
	sorted := make([]int64, 0, len(in))
	for _, x := range in {
		if !math.IsNaN(p.pAlive[x.row]) {
			sorted = append(sorted, p.clv[x.row])
		}
	}
	slices.Sort(sorted)
	n := int64(len(sorted))
	for _, x := range in {
		if !math.IsNaN(p.pAlive[x.row]) {
			b, _ := slices.BinarySearch(sorted, p.clv[x.row])
			p.decile[x.row] = uint8(1 + 10*int64(b)/n)
		}
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	for _, row := range v.dropped {
		p.drop(row)
	}
	v.pred, v.refreshing, v.dropped = p, false, v.dropped[:0]
}

// Unpredict forgets the predictions: a view whose model is gone predicts
// nothing.
func (v *View) Unpredict() {
	v.refresh.Lock()
	defer v.refresh.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pred = nil
}

// drop forgets the prediction of row.
func (p *predictions) drop(row int32) {
	if int(row) < len(p.pAlive) {
		p.pAlive[row], p.clv[row], p.decile[row] = math.NaN(), 0, 0
	}
}

// dropPrediction forgets the prediction of row, whose customer is
// removed, now and in the refresh under way.
func (v *View) dropPrediction(row int32) {
	if v.pred != nil {
		v.pred.drop(row)
	}
	if v.refreshing {
		v.dropped = append(v.dropped, row)
	}
}

// of returns the prediction of row: P(alive), CLV and decile, and whether
// there is one.
func (p *predictions) of(row int32) (pAlive float64, clv int64, decile int, ok bool) {
	if p == nil || row < 0 || int(row) >= len(p.pAlive) || math.IsNaN(p.pAlive[row]) {
		return 0, 0, 0, false
	}
	return p.pAlive[row], p.clv[row], int(p.decile[row]), true
}

// PredictedAt returns the model version and the time of the last refresh,
// and false if there has been none.
func (v *View) PredictedAt() (model string, at time.Time, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.pred == nil {
		return "", time.Time{}, false
	}
	return v.pred.model, v.pred.at, true
}

// Predicted is the population's predicted CLV, as of a refresh, with the
// RFM segments of a question's time.
type Predicted struct {
	// Model is the version of the model, At the time the predictions are
	// as of.
	Model string
	At    time.Time
	// All is the predicted CLV of every customer predicted; BySegment by
	// their RFM segment at the question's time ("" for none).
	All       Value
	BySegment map[string]Value
	// PAlive counts the customers predicted by tenth of P(alive):
	// PAlive[i] those with i/10 ≤ P(alive) < (i+1)/10, and 1 in PAlive[9].
	PAlive [10]int64
}

// PredictedCLV returns the predicted CLV of every customer predicted, in
// all and by their RFM segment at T, and false if no refresh has been
// made. It reads every customer once (and the buyers once more, for the
// segments at T).
func (v *View) PredictedCLV(T time.Time) (Predicted, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.pred == nil {
		return Predicted{}, false
	}
	sc := v.scoring(T)
	out := Predicted{Model: v.pred.model, At: v.pred.at, BySegment: map[string]Value{}}
	segs := make([]Value, len(rfm.Segments)+1) // the last for no segment
	for row, c := range v.all() {
		pAlive, clv, _, ok := v.pred.of(row)
		if !ok {
			continue
		}
		i := len(rfm.Segments)
		if c.f >= 1 {
			i = sc.segmentIndex(recency(sc.T, c.last), int64(c.f), c.m)
		}
		segs[i].Customers++
		segs[i].Total = segs[i].Total.Add(money.Micros(clv))
		out.PAlive[min(int(pAlive*10), 9)]++
	}
	for i, s := range segs {
		name := ""
		if i < len(rfm.Segments) {
			name = rfm.Segments[i]
		}
		if s.Customers > 0 {
			out.BySegment[name] = s
		}
		out.All.Customers += s.Customers
		out.All.Total = out.All.Total.Plus(s.Total)
	}
	return out, true
}
