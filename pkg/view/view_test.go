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
	"github.com/segflow/segflow/pkg/tag"
)

var T = time.Date(2026, 6, 1, 13, 30, 0, 0, time.UTC)

// randomCustomer is a customer of a random shop: some never bought, some
// bought long ago (F 0 in the window), many tie on F and on whole days.
func randomCustomer(r *rand.Rand, id string, version int64) profile.Summary {
	c := profile.Summary{Customer: id, Version: version, At: T, Tier: []string{"member", "silver", "gold"}[r.IntN(3)],
		Waterfall: []string{"", "vip", "lapsed", "other"}[r.IntN(4)]}
	if r.IntN(6) == 0 {
		return c
	}
	c.Orders = 1 + r.IntN(12)
	c.Last = time.UnixMilli(T.UnixMilli() - r.Int64N(800*day) + r.Int64N(day/2)) // a few after T
	c.First = c.Last.Add(-time.Duration(r.Int64N(400*day)) * time.Millisecond)
	if c.Orders == 1 {
		c.First = c.Last
	}
	c.Lifetime = r.Int64N(5_000_000_000)
	if T.Sub(c.Last) < 365*24*time.Hour {
		c.F = 1 + r.IntN(min(c.Orders, 6))
		c.M = r.Int64N(2_000) * 1_000_000 / int64(1+r.IntN(3))
	}
	if r.IntN(3) == 0 {
		c.Tags = []string{"bought:category:coats"}
	}
	return c
}

// reference scores the view's customers with rfm.Compute and nes, from
// their values alone.
func reference(cs map[string]profile.Summary, at time.Time) (map[string]rfm.Scores, map[string]rfm.Values, Counts) {
	ids := make([]string, 0, len(cs))
	vals := make([]rfm.Values, 0, len(cs))
	for id, c := range cs {
		ids = append(ids, id)
		v := rfm.Values{F: c.F, M: c.M}
		if c.F >= 1 {
			v.R = int(rfm.Of(nil, nil, c.Last, at, 0).R)
		}
		vals = append(vals, v)
	}
	scores, pop := rfm.Compute(vals)
	want := Counts{Buyers: pop.Buyers, Segments: map[string]int64{}, Stages: map[nes.Stage]int64{}, Tiers: map[string]int64{}, Tags: map[string]int64{}, Waterfall: map[string]int64{}}
	byID, valsByID := map[string]rfm.Scores{}, map[string]rfm.Values{}
	for i, id := range ids {
		c := cs[id]
		byID[id], valsByID[id] = scores[i], vals[i]
		if c.F >= 1 {
			want.Segments[scores[i].Segment]++
			want.Grid[scores[i].R-1][scores[i].F-1]++
		}
		st := nes.Prospect
		if c.Orders > 0 {
			st = nes.Config{}.Stage(c.Orders, c.First, c.Last, at)
		}
		want.Stages[st]++
		if c.Tier != "" {
			want.Tiers[c.Tier]++
		}
		if c.Waterfall != "" {
			want.Waterfall[c.Waterfall]++
		}
		for _, t := range c.Tags {
			want.Tags[t]++
		}
	}
	return byID, valsByID, want
}

func sameCounts(t *testing.T, got, want Counts) {
	t.Helper()
	if got.Buyers != want.Buyers || got.Grid != want.Grid || fmt.Sprint(got.Stages) != fmt.Sprint(want.Stages) ||
		fmt.Sprint(got.Tiers) != fmt.Sprint(want.Tiers) || fmt.Sprint(got.Tags) != fmt.Sprint(want.Tags) ||
		fmt.Sprint(got.Waterfall) != fmt.Sprint(want.Waterfall) {
		t.Errorf("counts:\n%+v\nwant\n%+v", got, want)
	}
	for _, s := range rfm.Segments {
		if got.Segments[s] != want.Segments[s] {
			t.Errorf("segment %s: %d, want %d", s, got.Segments[s], want.Segments[s])
		}
	}
}

func TestScoresAndCountsAgreeWithScoringTheWholePopulationAtOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := New(nes.Config{}, nil)
	cs := map[string]profile.Summary{}
	check := func(stage string, at time.Time) {
		t.Helper()
		scores, vals, want := reference(cs, at)
		want.At = at
		got := v.Counts(at)
		sameCounts(t, got, want)
		for id, w := range scores {
			gv, gs, ok := v.Scores(id, at)
			if !ok || gs != w || (w.Segment != "" && gv != vals[id]) {
				t.Fatalf("%s: customer %s at %s: %+v %+v, want %+v %+v", stage, id, at, gv, gs, vals[id], w)
			}
		}
	}
	for i := range 3000 {
		c := randomCustomer(r, fmt.Sprint("c", i), 1)
		cs[c.Customer] = c
		v.Put(c)
	}
	check("after puts", T)
	check("a day and a few hours later", T.Add(29*time.Hour+17*time.Minute))
	// Customers change, leave, come back.
	for i := range 2000 {
		id := fmt.Sprint("c", r.IntN(3500))
		if r.IntN(4) == 0 {
			delete(cs, id)
			v.Put(profile.Summary{Customer: id, Gone: true})
			continue
		}
		c := randomCustomer(r, id, int64(2+i))
		// An older summary of the customer, delivered late, changes nothing.
		stale := randomCustomer(r, id, 1)
		cs[id] = c
		v.Put(c, stale)
		if i%500 == 0 {
			check(fmt.Sprint("after ", i, " changes"), T)
		}
	}
	check("after the changes", T)
	if v.Len() != len(cs) {
		t.Errorf("%d customers, want %d", v.Len(), len(cs))
	}
}

func TestOneBuyerOrNoneScoresAsTheSpecSays(t *testing.T) {
	v := New(nes.Config{}, nil)
	if c := v.Counts(T); c.Buyers != 0 || c.Stages[nes.Prospect] != 0 {
		t.Errorf("empty view counts %+v", c)
	}
	v.Put(profile.Summary{Customer: "p"})
	v.Put(profile.Summary{Customer: "b", Orders: 1, First: T.Add(-24 * time.Hour), Last: T.Add(-24 * time.Hour), F: 1, M: 5_000_000})
	if _, s, _ := v.Scores("b", T); s != (rfm.Scores{R: 1, F: 1, M: 1, Segment: rfm.ImportantValue}) {
		t.Errorf("a lone buyer scores %+v, want 1, 1, 1 and important_value", s)
	}
	if _, s, ok := v.Scores("p", T); !ok || s != (rfm.Scores{}) {
		t.Errorf("a prospect scores %+v", s)
	}
	c := v.Counts(T)
	if c.Buyers != 1 || c.Stages[nes.Prospect] != 1 || c.Stages[nes.New] != 1 || c.Segments[rfm.ImportantValue] != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestMembersAreWhatEachCustomersScoresStageTierTagsAndWaterfallSay(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	v := New(nes.Config{}, nil)
	cs := map[string]profile.Summary{}
	for i := range 2000 {
		c := randomCustomer(r, fmt.Sprintf("c%04d", i), int64(i))
		cs[c.Customer] = c
		v.Put(c)
	}
	attrs := map[string]Attr{
		"important_value": {Kind: KindSegment, Value: rfm.ImportantValue},
		"S3":              {Kind: KindStage, Value: string(nes.DeepAsleep)},
		"prospect":        {Kind: KindStage, Value: string(nes.Prospect)},
		"m_score:5":       {Kind: KindMScore, Score: 5},
		"r_score:1":       {Kind: KindRScore, Score: 1},
		"gold":            {Kind: KindTier, Value: "gold"},
		"coats":           {Kind: KindTag, Value: "bought:category:coats"},
		"waterfall:vip":   {Kind: KindWaterfall, Value: "vip"},
		"waterfall:other": {Kind: KindWaterfall, Value: "other"},
	}
	var scores map[string]rfm.Scores
	holds := func(id, name string) bool {
		c, s := cs[id], scores[id]
		st := nes.Prospect
		if c.Orders > 0 {
			st = nes.Config{}.Stage(c.Orders, c.First, c.Last, T)
		}
		switch a := attrs[name]; a.Kind {
		case KindSegment:
			return s.Segment == a.Value
		case KindStage:
			return string(st) == a.Value
		case KindMScore:
			return s.M == a.Score
		case KindRScore:
			return s.R == a.Score
		case KindTier:
			return c.Tier == a.Value
		case KindTag:
			return slices.Contains(c.Tags, a.Value)
		case KindWaterfall:
			return c.Waterfall == a.Value
		}
		return false
	}
	check := func(stage string) {
		scores, _, _ = reference(cs, T)
		for q, want := range map[string]func(id string) bool{
			"important_value":                func(id string) bool { return holds(id, "important_value") },
			"NOT important_value":            func(id string) bool { return !holds(id, "important_value") },
			"prospect OR S3":                 func(id string) bool { return holds(id, "prospect") || holds(id, "S3") },
			"m_score:5 AND NOT r_score:1":    func(id string) bool { return holds(id, "m_score:5") && !holds(id, "r_score:1") },
			"gold AND (coats OR S3)":         func(id string) bool { return holds(id, "gold") && (holds(id, "coats") || holds(id, "S3")) },
			"NOT (important_value OR coats)": func(id string) bool { return !holds(id, "important_value") && !holds(id, "coats") },
			"waterfall:vip":                  func(id string) bool { return holds(id, "waterfall:vip") },
			"waterfall:other AND gold":       func(id string) bool { return holds(id, "waterfall:other") && holds(id, "gold") },
			"NOT waterfall:vip AND S3":       func(id string) bool { return !holds(id, "waterfall:vip") && holds(id, "S3") },
		} {
			expr, err := audience.Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for id := range cs {
				if want(id) {
					all = append(all, id)
				}
			}
			slices.Sort(all)
			// Read it a page of 97 at a time.
			var got []string
			cursor := ""
			for {
				p := v.Members(T, expr, attrs, cursor, 97)
				if p.Total != len(all) {
					t.Fatalf("%s: total %d, want %d", q, p.Total, len(all))
				}
				for _, m := range p.Members {
					got = append(got, m.ID)
				}
				if p.Next == "" {
					break
				}
				cursor = p.Next
			}
			if !slices.Equal(got, all) {
				t.Errorf("%s, %s: %d members read in pages, want %d", stage, q, len(got), len(all))
			}
		}
	}
	check("first")
	// Customers leave and come: the id order follows, rows are reused.
	for i := range 600 {
		id := fmt.Sprintf("c%04d", r.IntN(2000))
		delete(cs, id)
		v.Put(profile.Summary{Customer: id, Gone: true})
		if i%3 == 0 {
			v.Members(T, audience.Name{Name: "gold"}, attrs, "", 1) // sorts, frees rows
		}
		c := randomCustomer(r, fmt.Sprintf("n%04d", i), 1)
		cs[c.Customer] = c
		v.Put(c)
	}
	check("after changes")
}

func TestTagsThatDependOnScoresAreThoseOfTheScoresAtT(t *testing.T) {
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 12))
	v := New(nes.Config{}, rules)
	cs := map[string]profile.Summary{}
	for i := range 3000 {
		c := randomCustomer(r, fmt.Sprint("c", i), 1)
		// As published at some earlier evaluation: stale, whatever it says.
		if r.IntN(2) == 0 {
			c.Tags = append(c.Tags, "big_spender", "thrifty")
		}
		cs[c.Customer] = c
		v.Put(c)
	}
	for _, at := range []time.Time{T, T.Add(200 * 24 * time.Hour)} {
		scores, _, _ := reference(cs, at)
		want := map[string]int64{}
		for id, s := range scores {
			c := cs[id]
			st := nes.Prospect
			if c.Orders > 0 {
				st = nes.Config{}.Stage(c.Orders, c.First, c.Last, at)
			}
			if s.M == 5 {
				want["big_spender"]++
			}
			if st == nes.New && s.M >= 4 {
				want["new_rich"]++
			}
			if s.M > 0 && s.M <= 2 && s.F >= 3 {
				want["thrifty"]++
			}
		}
		got := v.Counts(at).Tags
		for _, name := range []string{"big_spender", "new_rich", "thrifty"} {
			if got[name] != want[name] {
				t.Errorf("at %s: %s counts %d, want %d", at.Format(time.DateOnly), name, got[name], want[name])
			}
		}
		if want["big_spender"] == 0 || want["thrifty"] == 0 {
			t.Errorf("at %s: the population has no big spender or thrifty customer: %v", at.Format(time.DateOnly), want)
		}
		for _, q := range []string{"big_spender", "thrifty"} {
			p := v.Members(at, audience.Name{Name: q}, map[string]Attr{q: {Kind: KindTag, Value: q}}, "", 0)
			if int64(p.Total) != want[q] {
				t.Errorf("at %s: %d members of %s, want %d", at.Format(time.DateOnly), p.Total, q, want[q])
			}
		}
	}
}

func TestTheNewerSummaryWinsWhateverItsVersionAndTime(t *testing.T) {
	at := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	type stamp struct {
		version int64
		at      time.Time
	}
	for _, tc := range []struct {
		name         string
		older, newer stamp
	}{
		{"the same version evaluated later", stamp{7, at("2026-05-01T10:00:00.001Z")}, stamp{7, at("2026-05-01T10:00:00.002Z")}},
		{"a higher version evaluated earlier", stamp{7, at("2026-05-02T00:00:00Z")}, stamp{8, at("2026-05-01T00:00:00Z")}},
		{"a summary never evaluated, then one at the Unix epoch", stamp{0, time.Time{}}, stamp{0, time.UnixMilli(0)}},
		{"a time before 1970 and the zero time", stamp{3, time.Time{}}, stamp{3, at("1969-12-31T23:59:59.999Z")}},
		{"a time after 2109", stamp{3, at("2109-01-01T00:00:00Z")}, stamp{3, at("2200-01-01T00:00:00Z")}},
		{"the last version that fits and the next", stamp{1<<22 - 2, T}, stamp{1<<22 - 1, T.Add(-time.Hour)}},
		{"versions far past four million", stamp{1 << 40, T}, stamp{1<<40 + 1, T}},
		{"a small version and a large one", stamp{5, T.Add(time.Hour)}, stamp{1 << 40, T}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := func(s stamp, f int) profile.Summary {
				return profile.Summary{Customer: "c", Version: s.version, At: s.at, Orders: f, First: T.Add(-time.Hour), Last: T.Add(-time.Hour), F: f, M: 1}
			}
			older, newer := sum(tc.older, 1), sum(tc.newer, 2)
			if !newer.Newer(older) || older.Newer(newer) {
				t.Fatal("the case is not ordered as profile.Summary.Newer orders it")
			}
			for _, order := range [][]profile.Summary{{older, newer}, {newer, older}, {newer, older, newer, older}} {
				v := New(nes.Config{}, nil)
				for _, s := range order {
					v.Put(s)
				}
				if vals, _, _ := v.Scores("c", T); vals.F != 2 {
					t.Errorf("put in the order of F %v: the view holds F %d, want the newer's 2", fOf(order), vals.F)
				}
			}
		})
	}
}

func fOf(sums []profile.Summary) []int {
	out := make([]int, len(sums))
	for i, s := range sums {
		out[i] = s.F
	}
	return out
}

// A load that reads a customer while the batch that evaluates them is
// being written sees the batch's version and time but not yet its tier and
// tags; the summary the batch then publishes has the same version and time,
// and is what the customer is.
func TestASummaryAsNewAsTheOneHeldCompletesIt(t *testing.T) {
	v := New(nes.Config{}, nil)
	read := profile.Summary{Customer: "c", Version: 1, At: T, Orders: 1, First: T.Add(-time.Hour), Last: T.Add(-time.Hour), F: 1, M: 5_000_000}
	published := read
	published.Tier, published.Tags = "member", []string{"bought:category:coats"}
	v.Put(read, published)
	c := v.Counts(T)
	if c.Tiers["member"] != 1 || c.Tags["bought:category:coats"] != 1 {
		t.Errorf("tiers %v and tags %v, want the published member with its tag", c.Tiers, c.Tags)
	}
	older := published
	older.Version, older.Tier, older.Tags = 0, "gold", nil
	v.Put(older, published)
	if c := v.Counts(T); c.Tiers["member"] != 1 || c.Tiers["gold"] != 0 || c.Tags["bought:category:coats"] != 1 {
		t.Errorf("after an older summary and the same again: tiers %v and tags %v, want the published member", c.Tiers, c.Tags)
	}
}
