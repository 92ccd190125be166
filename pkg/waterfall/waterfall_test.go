package waterfall

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/tag"
)

func mustCompile(t testing.TB, c Config) *Engine {
	t.Helper()
	e, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestTheFirstSegmentThatHoldsWins(t *testing.T) {
	e := mustCompile(t, Config{Segments: []Segment{
		{Name: "hk", When: `traits[?"city"].orValue("") == "Hong Kong"`},
		{Name: "vip", When: `m_score == 5 || tier == "gold"`},
		{Name: "thrifty", When: `"thrifty" in tags`},
		{Name: "lapsed", When: `stage in ["S2", "S3"]`},
	}})
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"a customer in Hong Kong is in hk whatever else holds",
			Input{Input: tag.Input{Stage: "S3", MScore: 5, Traits: map[string]any{"city": "Hong Kong"}}, Tier: "gold", Tags: []string{"thrifty"}}, "hk"},
		{"a top spender elsewhere is a vip, though also lapsed",
			Input{Input: tag.Input{Stage: "S3", MScore: 5, Traits: map[string]any{"city": "Taipei"}}}, "vip"},
		{"a gold member is a vip by tier",
			Input{Input: tag.Input{Stage: "E0", MScore: 2}, Tier: "gold"}, "vip"},
		{"a thrifty customer who lapsed is thrifty, the earlier segment",
			Input{Input: tag.Input{Stage: "S2", MScore: 1}, Tags: []string{"new_rich", "thrifty"}}, "thrifty"},
		{"a lapsed customer with no tag is lapsed",
			Input{Input: tag.Input{Stage: "S2", MScore: 3}}, "lapsed"},
		{"a customer no segment holds for is in the fallback",
			Input{Input: tag.Input{Stage: "E0", MScore: 3}}, DefaultFallback},
		{"a prospect is in the fallback",
			Input{Input: tag.Input{Stage: string(nes.Prospect)}}, DefaultFallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Eval(tt.in); got != tt.want {
				t.Errorf("Eval = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAConfiguredFallbackNamesCustomersInNoSegment(t *testing.T) {
	e := mustCompile(t, Config{Segments: []Segment{{Name: "buyers", When: "orders > 0"}}, Fallback: "prospects"})
	if got := e.Eval(Input{}); got != "prospects" {
		t.Errorf("Eval = %q, want prospects", got)
	}
	if got, want := e.Names(), []string{"buyers", "prospects"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}

func TestAConditionThatFailsOnAProfileDoesNotHold(t *testing.T) {
	// traits["city"] of a customer without a city is a CEL error: they are
	// not in Hong Kong, and fall through to the next segment.
	e := mustCompile(t, Config{Segments: []Segment{
		{Name: "hk", When: `traits["city"] == "Hong Kong"`},
		{Name: "buyers", When: `orders > 0`},
	}})
	if got := e.Eval(Input{Input: tag.Input{Orders: 2}}); got != "buyers" {
		t.Errorf("Eval without a city = %q, want buyers", got)
	}
	if got := e.Eval(Input{Input: tag.Input{Orders: 2, Traits: map[string]any{"city": "Hong Kong"}}}); got != "hk" {
		t.Errorf("Eval in Hong Kong = %q, want hk", got)
	}
}

// predicate is a condition written again in Go, to check the engine
// against.
type predicate struct {
	name  string
	when  string
	holds func(Input) bool
}

var predicates = []predicate{
	{"hk", `traits[?"city"].orValue("") == "Hong Kong"`, func(in Input) bool { return in.Traits["city"] == "Hong Kong" }},
	{"big", `m >= 500.0 && orders >= 3`, func(in Input) bool { return in.M >= 500_000_000 && in.Orders >= 3 }},
	{"champions", `segment == "important_value"`, func(in Input) bool { return in.Segment == "important_value" }},
	{"gold", `tier == "gold"`, func(in Input) bool { return in.Tier == "gold" }},
	{"recent", `r <= 30 && f_score >= 3`, func(in Input) bool { return in.R <= 30 && in.FScore >= 3 }},
	{"thrifty", `"thrifty" in tags`, func(in Input) bool { return slices.Contains(in.Tags, "thrifty") }},
	{"lapsed", `stage in ["S2", "S3"]`, func(in Input) bool { return in.Stage == "S2" || in.Stage == "S3" }},
	{"coffee", `bought_categories.exists(c, c == "coffee")`, func(in Input) bool { return slices.Contains(in.BoughtCategories, "coffee") }},
	{"rich", `lifetime > 1000.0`, func(in Input) bool { return in.Lifetime > 1_000_000_000 }},
}

// configOf is the waterfall of ps, in their order.
func configOf(ps []predicate) Config {
	var c Config
	for _, p := range ps {
		c.Segments = append(c.Segments, Segment{Name: p.name, When: p.when})
	}
	return c
}

// firstHolding is the ordered evaluation of ps in Go: the name of the
// first whose condition holds for in, else the default fallback.
func firstHolding(ps []predicate, in Input) string {
	for _, p := range ps {
		if p.holds(in) {
			return p.name
		}
	}
	return DefaultFallback
}

func randomInput(r *rand.Rand) Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	in := Input{Input: tag.Input{
		Stage: string(nes.Stages[r.IntN(len(nes.Stages))]),
		R:     r.IntN(400), F: r.IntN(10), M: r.Int64N(2_000_000_000),
		RScore: r.IntN(6), FScore: r.IntN(6), MScore: r.IntN(6),
		Segment:  pick(append([]string{""}, rfm.Segments...)...),
		Orders:   r.IntN(8),
		Lifetime: r.Int64N(3_000_000_000),
	}, Tier: pick("", "member", "silver", "gold")}
	if r.IntN(2) == 0 {
		in.Traits = map[string]any{"city": pick("Hong Kong", "Taipei", "")}
	}
	for _, c := range []string{"coffee", "tea", "dog"} {
		if r.IntN(3) == 0 {
			in.BoughtCategories = append(in.BoughtCategories, c)
		}
	}
	for _, tg := range []string{"big_spender", "new_rich", "thrifty"} {
		if r.IntN(3) == 0 {
			in.Tags = append(in.Tags, tg)
		}
	}
	return in
}

// TestEveryCustomerIsInTheFirstSegmentThatHoldsAndInNoOther checks the
// engine against an ordered evaluation of the same conditions written in
// Go, over random profiles and random orders of the segments: the
// segments are a partition of the profiles, each in the first segment
// whose condition holds.
func TestEveryCustomerIsInTheFirstSegmentThatHoldsAndInNoOther(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 1))
	for round := range 20 {
		ps := slices.Clone(predicates)
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		ps = ps[:1+r.IntN(len(ps))]
		e := mustCompile(t, configOf(ps))
		counts := map[string]int{}
		const n = 500
		for range n {
			in := randomInput(r)
			want := firstHolding(ps, in)
			got := e.Eval(in)
			if got != want {
				t.Fatalf("round %d, waterfall %v: Eval(%+v) = %q, want %q", round, e.Names(), in, got, want)
			}
			counts[got]++
		}
		total := 0
		for name, k := range counts {
			if !slices.Contains(e.Names(), name) {
				t.Errorf("round %d: %d profiles in %q, not a segment of the waterfall", round, k, name)
			}
			total += k
		}
		if total != n {
			t.Errorf("round %d: segments hold %d profiles, want %d", round, total, n)
		}
	}
}

func TestCompileErrorsNameTheSegment(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string // substrings of the error
	}{
		{"a waterfall without segments is refused", Config{}, []string{"no segments"}},
		{"a segment without a name is named by its position",
			Config{Segments: []Segment{{Name: "a", When: "true"}, {When: "true"}}}, []string{"segment #2: no name"}},
		{"a name used twice is refused",
			Config{Segments: []Segment{{Name: "a", When: "true"}, {Name: "a", When: "false"}}}, []string{`segment "a": name used twice`}},
		{"a name an audience expression could not name is refused",
			Config{Segments: []Segment{{Name: "big spender", When: "true"}}}, []string{`segment "big spender": name has ' '`}},
		{"a segment without a condition is refused",
			Config{Segments: []Segment{{Name: "a"}}}, []string{`segment "a": no when`}},
		{"a condition that is not a bool is refused",
			Config{Segments: []Segment{{Name: "a", When: "orders + 1"}}}, []string{`segment "a": when: must be bool, is int`}},
		{"a syntax error gives its line and column",
			Config{Segments: []Segment{{Name: "a", When: "orders >"}}}, []string{`segment "a": when:1:`}},
		{"an unknown variable is refused",
			Config{Segments: []Segment{{Name: "a", When: "ordres > 1"}}}, []string{`segment "a": when:1:1: undeclared reference to 'ordres'`}},
		{"a fallback with a segment's name is refused",
			Config{Segments: []Segment{{Name: "other", When: "true"}}}, []string{`fallback "other": also the name of a segment`}},
		{"every problem is reported",
			Config{Segments: []Segment{{Name: "a", When: "1"}, {Name: "b(", When: "true"}}, Fallback: "x y"},
			[]string{`segment "a"`, `segment "b("`, `fallback "x y"`}},
		{"a condition over long lists that may cost more than the limit is refused",
			Config{Segments: []Segment{{Name: "a", When: "viewed_skus.exists(s, s in bought_skus)"}}, CostLimit: 100},
			[]string{`segment "a": when: may cost up to`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.c)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string // fmt %+v of the config
		wantErr string
	}{
		{"segments and a fallback are read", "segments:\n  - {name: a, when: orders > 1}\nfallback: rest\n",
			"{Segments:[{Name:a When:orders > 1}] Fallback:rest CostLimit:0}", ""},
		{"a misspelt field is an error", "segments:\n  - {name: a, wen: orders > 1}\n", "", "field wen not found"},
		{"a second document is an error", "segments: []\n---\nsegments: []\n", "", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "waterfall.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadConfig error = %v, want one naming the file and saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%+v", c); got != tt.want {
				t.Errorf("LoadConfig = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTheExampleWaterfallCompiles(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "..", "deploy", "waterfall.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := mustCompile(t, c)
	// A dozing top spender in Hong Kong is in hong_kong, the first segment.
	in := Input{Input: tag.Input{Stage: "S1", MScore: 5, Traits: map[string]any{"city": "Hong Kong"}}}
	if got := e.Eval(in); got != "hong_kong" {
		t.Errorf("Eval = %q, want hong_kong", got)
	}
	if got := e.Eval(Input{Input: tag.Input{Stage: string(nes.Prospect)}}); got != "prospects" {
		t.Errorf("Eval of a prospect = %q, want prospects", got)
	}
}

func TestConcurrentEvalAgrees(t *testing.T) {
	ps := predicates
	e := mustCompile(t, configOf(ps))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for range 200 {
				in := randomInput(r)
				if got, want := e.Eval(in), firstHolding(ps, in); got != want {
					t.Errorf("Eval = %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
