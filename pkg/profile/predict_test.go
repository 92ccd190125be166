package profile_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

// fixedModel predicts with one model.
type fixedModel struct{ m predict.Model }

func (f fixedModel) Model() (predict.Model, bool) { return f.m, true }

// cdnowModel has the published CDNOW parameters (Fader, Hardie & Lee 2005).
var cdnowModel = predict.NewModel(
	predict.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: predict.Week},
	predict.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44},
)

// pAlive is BG/NBD's P(alive | x, t_x, T), written out from the paper.
func pAlive(x int, tx, T float64) float64 {
	r, alpha, a, b := 0.243, 4.414, 0.793, 2.426
	return 1 / (1 + a/(b+float64(x)-1)*math.Pow((alpha+T)/(alpha+tx), r+float64(x)))
}

// crossing finds, by bisection on pAlive, the age (weeks) at which P(alive)
// falls to theta: an independent check of the closed form.
func crossing(x int, tx, theta float64) float64 {
	lo, hi := tx, tx+1e4
	for range 200 {
		mid := (lo + hi) / 2
		if pAlive(x, tx, mid) > theta {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

func TestAtRiskIsPublishedByItsTimerAtTheInstantPAliveCrossesTheThreshold(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := profile.New(rdb, profile.Config{Prefix: "risk", Rules: rules, Models: fixedModel{cdnowModel}})
	// Three purchase days: the first day (midnight UTC) is the origin, and
	// the last is 5 weeks after it: x = 2, t_x = 5.
	for _, o := range []struct {
		id string
		at time.Time
	}{{"f1", day(0)}, {"f2", day(14)}, {"f3", day(35)}} {
		chs, _, err := s.Apply(ctx, o.at, []profile.Op{order(t, "fay", o.id, o.at, "20.00")})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, chs); err != nil {
			t.Fatal(err)
		}
	}
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := origin.Add(time.Duration(crossing(2, 5, profile.DefaultAtRisk) * float64(predict.Week)))

	atRisk := func(T time.Time) []profile.Change {
		t.Helper()
		var out []profile.Change
		for {
			chs, evaluated, err := s.Due(ctx, T, 100)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, chs); err != nil {
				t.Fatal(err)
			}
			for _, ch := range chs {
				if slices.Contains(ch.After.Tags, profile.TagAtRisk) != slices.Contains(ch.Before.Tags, profile.TagAtRisk) {
					out = append(out, ch)
				}
			}
			if len(evaluated) == 0 {
				return out
			}
		}
	}
	if got := atRisk(want.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("at risk a second before P(alive) falls to %g: %+v", profile.DefaultAtRisk, got)
	}
	got := atRisk(want.Add(time.Second))
	if len(got) != 1 || !slices.Contains(got[0].After.Tags, profile.TagAtRisk) {
		t.Fatalf("changes of at_risk by %s: %+v, want one that adds it", want.Add(time.Second), got)
	}
	if d := got[0].Cause.Due.Sub(want); d < 0 || d > time.Millisecond {
		t.Errorf("at_risk due at %s, want %s (P(alive) = %g there)", got[0].Cause.Due, want, profile.DefaultAtRisk)
	}

	// A purchase brings P(alive) back above the threshold and moves the
	// instant on: x = 3, t_x = the new last day.
	buy := want.Add(24 * time.Hour)
	chs, _, err := s.Apply(ctx, buy, []profile.Op{order(t, "fay", "f4", buy, "20.00")})
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || slices.Contains(chs[0].After.Tags, profile.TagAtRisk) {
		t.Fatalf("a purchase when at risk: changes %+v, want one without at_risk", chs)
	}
	if err := s.Commit(ctx, chs); err != nil {
		t.Fatal(err)
	}
	lastDay := time.Date(buy.Year(), buy.Month(), buy.Day(), 0, 0, 0, 0, time.UTC)
	tx := float64(lastDay.Sub(origin)) / float64(predict.Week)
	next := origin.Add(time.Duration(crossing(3, tx, profile.DefaultAtRisk) * float64(predict.Week)))
	if got := atRisk(next.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("at risk again before the new instant %s: %+v", next, got)
	}
	if got := atRisk(next.Add(time.Second)); len(got) != 1 || got[0].Cause.Due.Sub(next).Abs() > time.Millisecond {
		t.Fatalf("at risk again: %+v, want one change due at %s", got, next)
	}
}

func TestAStoreWithoutAModelTagsNobodyAtRisk(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "nomodel")
	if _, _, err := s.Apply(ctx, day(0), []profile.Op{order(t, "gus", "g1", day(0), "5"), order(t, "gus", "g2", day(7), "5")}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Get(ctx, day(3000), []string{"gus"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ps[0].Tags, profile.TagAtRisk) || ps[0].Predicted != nil {
		t.Errorf("without a model: tags %v, predicted %+v", ps[0].Tags, ps[0].Predicted)
	}
}
