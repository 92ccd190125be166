package view

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/waterfall"
)

func compileWaterfall(t *testing.T, segments ...waterfall.Segment) *waterfall.Engine {
	t.Helper()
	wf, err := waterfall.Compile(waterfall.Config{Segments: segments})
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// TestALiveWaterfallIsEachCustomersFirstMatchingSegmentAtT checks counts
// and members of a waterfall over scores, segment, stage, tier and tags
// against the same waterfall written in Go over rfm.Compute's scores of the
// whole population at T, at two times: the segments follow the scores and
// stages as time passes, whatever segment was last published.
func TestALiveWaterfallIsEachCustomersFirstMatchingSegmentAtT(t *testing.T) {
	wf := compileWaterfall(t,
		waterfall.Segment{Name: "champions", When: `segment == "important_value" && f_score >= 3`},
		waterfall.Segment{Name: "top_m", When: `m_score == 5`},
		waterfall.Segment{Name: "gold_lapsed", When: `tier == "gold" && stage in ["S2", "S3"]`},
		waterfall.Segment{Name: "coats", When: `"bought:category:coats" in tags`},
	)
	of := func(c profile.Summary, s rfm.Scores, at time.Time) string {
		st := nes.Prospect
		if c.Orders > 0 {
			st = nes.Config{}.Stage(c.Orders, c.First, c.Last, at)
		}
		switch {
		case s.Segment == rfm.ImportantValue && s.F >= 3:
			return "champions"
		case s.M == 5:
			return "top_m"
		case c.Tier == "gold" && (st == nes.HalfAsleep || st == nes.DeepAsleep):
			return "gold_lapsed"
		case slices.Contains(c.Tags, "bought:category:coats"):
			return "coats"
		}
		return waterfall.DefaultFallback
	}
	v := newView(nes.Config{}, nil, wf)
	if v.wf == nil {
		t.Fatal("a waterfall over scores, stages, tiers and tags is not evaluated live")
	}
	r := rand.New(rand.NewPCG(17, 17))
	cs := map[string]profile.Summary{}
	for i := range 3000 {
		c := randomCustomer(r, fmt.Sprintf("c%04d", i), 1)
		c.Waterfall = "published" // what was published no longer counts
		cs[c.Customer] = c
		v.Put(c)
	}
	for _, at := range []time.Time{T, T.Add(45 * 24 * time.Hour)} {
		scores, _, _ := reference(cs, at)
		want := map[string]int64{}
		members := map[string][]string{}
		for id, c := range cs {
			s := of(c, scores[id], at)
			want[s]++
			members[s] = append(members[s], id)
		}
		if got := v.Counts(at).Waterfall; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("at %s: counts %v, want %v", at, got, want)
		}
		attrs := map[string]Attr{}
		for _, s := range wf.Names() {
			attrs["waterfall:"+s] = Attr{Kind: KindWaterfall, Value: s}
		}
		for _, s := range wf.Names() {
			if len(members[s]) == 0 {
				t.Errorf("at %s: nobody in %s, a weak case", at, s)
			}
			slices.Sort(members[s])
			p := v.Members(at, audience.Name{Name: "waterfall:" + s}, attrs, "", 0)
			var got []string
			for _, m := range p.Members {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, members[s]) {
				t.Errorf("at %s: %d members of %s, want %d", at, len(got), s, len(members[s]))
			}
		}
		if !v.Known(KindWaterfall, "gold_lapsed") {
			t.Error("a segment of the live waterfall is not known")
		}
	}
}

func TestAWaterfallOverWhatAViewLacksIsAsPublished(t *testing.T) {
	wf := compileWaterfall(t,
		waterfall.Segment{Name: "hk", When: `traits[?"city"].orValue("") == "Hong Kong"`},
		waterfall.Segment{Name: "top_m", When: `m_score == 5`},
	)
	v := newView(nes.Config{}, nil, wf)
	if v.wf != nil {
		t.Fatal("a waterfall over traits is evaluated live")
	}
	r := rand.New(rand.NewPCG(18, 18))
	want := map[string]int64{}
	for i := range 500 {
		c := randomCustomer(r, fmt.Sprint("c", i), 1)
		if c.Waterfall != "" {
			want[c.Waterfall]++
		}
		v.Put(c)
	}
	if got := v.Counts(T).Waterfall; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want the published segments %v", got, want)
	}
}
