package view

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
)

// person is a customer's traits as plain Go values, kept beside the view to
// filter independently of it.
type person struct {
	city    string // "" when unknown
	age     float64
	hasAge  bool
	ageText bool // age sent as the string "21"
	vip     *bool
	created time.Time // zero when unknown
}

// withTraits gives c random traits: a city of four (or none), an age from
// 15 to 40 (or none, or "21" as a string, which is no number), vip, and
// when they signed up.
func withTraits(r *rand.Rand, c profile.Summary) (profile.Summary, person) {
	var p person
	var traits []event.Trait
	if i := r.IntN(5); i < 4 {
		p.city = []string{"Hong Kong", "Taipei", "Tokyo", "Macau"}[i]
		traits = append(traits, event.Trait{Name: "city", Kind: event.TraitString, Text: p.city})
	}
	switch r.IntN(6) {
	case 0:
	case 1:
		p.ageText = true
		traits = append(traits, event.Trait{Name: "age", Kind: event.TraitString, Text: "21"})
	default:
		p.age, p.hasAge = float64(15+r.IntN(26)), true
		traits = append(traits, event.Trait{Name: "age", Kind: event.TraitNumber, Text: strconv.FormatFloat(p.age, 'g', -1, 64)})
	}
	if r.IntN(2) == 0 {
		vip := r.IntN(4) == 0
		p.vip = &vip
		traits = append(traits, event.Trait{Name: "vip", Kind: event.TraitBool, Text: strconv.FormatBool(vip)})
	}
	if r.IntN(2) == 0 {
		p.created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(800)) * 24 * time.Hour)
		traits = append(traits, event.Trait{Name: "created_at", Kind: event.TraitTime, Text: p.created.Format(time.RFC3339Nano)})
	}
	slices.SortFunc(traits, func(a, b event.Trait) int { return strings.Compare(a.Name, b.Name) })
	c.Traits = traits
	return c, p
}

func TestAudiencesWithTraitTermsAreWhatEachCustomersTraitsSay(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 17))
	v := New(nes.Config{}, nil)
	cs, people := map[string]profile.Summary{}, map[string]person{}
	put := func(c profile.Summary) {
		c, p := withTraits(r, c)
		cs[c.Customer], people[c.Customer] = c, p
		v.Put(c)
	}
	for i := range 3000 {
		put(randomCustomer(r, fmt.Sprintf("c%04d", i), int64(i)))
	}
	attrs := map[string]Attr{"important_value": {Kind: KindSegment, Value: rfm.ImportantValue}, "gold": {Kind: KindTier, Value: "gold"}}
	signup := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	check := func(stage string) {
		scores, _, _ := reference(cs, T)
		for q, want := range map[string]func(id string, p person) bool{
			`trait:city = "Hong Kong" AND important_value`: func(id string, p person) bool {
				return p.city == "Hong Kong" && scores[id].Segment == rfm.ImportantValue
			},
			`trait:age >= 18 AND trait:age <= 24`:         func(_ string, p person) bool { return p.hasAge && p.age >= 18 && p.age <= 24 },
			`trait:city = "Hong Kong" AND trait:age < 18`: func(_ string, p person) bool { return p.city == "Hong Kong" && p.hasAge && p.age < 18 },
			`trait:city != "Taipei" OR gold`:              func(id string, p person) bool { return p.city != "" && p.city != "Taipei" || cs[id].Tier == "gold" },
			`NOT trait:city = "Taipei"`:                   func(_ string, p person) bool { return p.city != "Taipei" },
			`trait:city > "Macau"`:                        func(_ string, p person) bool { return p.city > "Macau" },
			`trait:vip = true`:                            func(_ string, p person) bool { return p.vip != nil && *p.vip },
			`trait:vip != true`:                           func(_ string, p person) bool { return p.vip != nil && !*p.vip },
			`trait:created_at >= "2025-01-01"`:            func(_ string, p person) bool { return !p.created.IsZero() && !p.created.Before(signup) },
			`trait:age = "21"`:                            func(_ string, p person) bool { return p.ageText }, // a number 21 is no string "21"
			`trait:unknown = 1`:                           func(string, person) bool { return false },
		} {
			expr, err := audience.Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for id, p := range people {
				if want(id, p) {
					all = append(all, id)
				}
			}
			slices.Sort(all)
			var got []string
			for _, m := range v.Members(T, expr, attrs, "", 0).Members {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, all) {
				t.Errorf("%s, %s: %d members, want %d", stage, q, len(got), len(all))
			}
		}
	}
	check("first")
	// Customers change their traits, leave and come.
	for i := range 900 {
		id := fmt.Sprintf("c%04d", r.IntN(3000))
		if _, ok := cs[id]; ok && i%2 == 0 {
			c := cs[id]
			c.Version += 10_000
			put(c)
			continue
		}
		delete(cs, id)
		delete(people, id)
		v.Put(profile.Summary{Customer: id, Gone: true})
		put(randomCustomer(r, fmt.Sprintf("n%04d", i), 1))
	}
	check("after changes")
}

func TestTraitCountsCountEachValueOfTheCustomersHoldingIt(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	v := New(nes.Config{}, nil)
	want := map[string]int64{}
	var holding int64
	for i := range 2000 {
		c, p := withTraits(r, randomCustomer(r, fmt.Sprintf("c%04d", i), 1))
		v.Put(c)
		if p.city != "" {
			want[p.city]++
			holding++
		}
	}
	got, ok := v.TraitCounts("city", 3)
	if !ok || got.Customers != holding || got.Distinct != len(want) || len(got.Top) != 3 {
		t.Fatalf("TraitCounts(city, 3) = %+v, %t; want %d customers, %d values, the top 3", got, ok, holding, len(want))
	}
	for i, c := range got.Top {
		if want[c.Value.(string)] != c.Customers {
			t.Errorf("%v: %d customers, want %d", c.Value, c.Customers, want[c.Value.(string)])
		}
		if i > 0 && c.Customers > got.Top[i-1].Customers {
			t.Errorf("top values not by count: %+v", got.Top)
		}
	}
	if _, ok := v.TraitCounts("email", 10); ok {
		t.Error("a trait no customer had is counted")
	}
}

func TestTraitsSurviveTheirArenaBeingCompacted(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	v := New(nes.Config{}, nil)
	people := map[string]person{}
	compactions, garbage := 0, 0
	for round := range 60 {
		for i := range 500 {
			c, p := withTraits(r, randomCustomer(r, fmt.Sprintf("c%03d", i), int64(round)))
			v.Put(c)
			people[c.Customer] = p
			if v.traits.garbage < garbage {
				compactions++
			}
			garbage = v.traits.garbage
		}
	}
	if compactions == 0 {
		t.Fatal("the arena was never compacted")
	}
	expr, err := audience.Parse(`trait:city = "Tokyo" OR trait:age > 30`)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for id, p := range people {
		if p.city == "Tokyo" || p.hasAge && p.age > 30 {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	var got []string
	for _, m := range v.Members(T, expr, nil, "", 0).Members {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after %d compactions: %d members, want %d", compactions, len(got), len(want))
	}
}
