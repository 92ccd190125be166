package tag

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// memoRules read every variable, each rule a few.
var memoRules = Config{
	Tags: []Rule{
		{Name: "big", When: `m_score == 5 && m > 100.0`},
		{Name: "new_rich", When: `stage == "N" && r < 30`},
		{Name: "loyal", When: `f >= 3 && f_score >= 3 && r_score >= 2 && segment != ""`},
		{Name: "spender", When: `lifetime >= 1000.0 && orders > 2`},
		{Name: "cart", When: `cart_value > 50.0`},
		{Name: "bought", Each: `bought_categories.map(c, "bought:" + c)`},
		{Name: "vnb", Each: `viewed_skus.filter(s, !(s in bought_skus)).map(s, "vnb:" + s)`},
		{Name: "browser", Each: `viewed_categories.map(c, "viewed:" + c)`},
		{Name: "adult", When: `traits[?"age"].orValue(0) >= 18`},
		{Name: "city", Each: `[traits[?"city"].orValue("")].filter(c, type(c) == string).map(c, "city:" + string(c))`},
		{Name: "since", When: `traits[?"since"].orValue(timestamp("2030-01-01T00:00:00Z")) < timestamp("2025-01-01T00:00:00Z")`},
		{Name: "vip", When: `traits[?"vip"].orValue(false) == true`},
		{Name: "mailable", When: `consent[?"email"].orValue(false)`},
		// Each rules over a list in every form each.go takes element by
		// element, and one it does not (its variable hides stage).
		{Name: "vnb3", Each: `viewed_skus.map(s, !(s in bought_skus), "vnb3:" + s)`},
		{Name: "fails_on_s7", Each: `viewed_skus.map(s, s == "s7" ? s.substring(5) : "v:" + s)`},
		{Name: "chain", Each: `viewed_categories.filter(c, c != "c1").map(c, segment + ":" + c).filter(x, x.size() > 3)`},
		{Name: "many", Each: `bought_skus.map(s, bought_skus.size() > 3, "many:" + s)`},
		{Name: "twos", Each: `viewed_categories.filter(c, c.endsWith("2"))`},
		{Name: "blank_c3", Each: `bought_categories.map(c, c == "c3" ? "" : "b:" + c)`},
		{Name: "hides_stage", Each: `viewed_skus.map(stage, "h:" + stage)`},
		{Name: "nested", Each: `viewed_skus.filter(s, !bought_skus.exists(b, b == s)).map(s, "nested:" + s)`},
		// Steps each.go runs in Go (fastStep): a suffix, a filter on
		// membership, one on a mapped value, one in the list itself.
		{Name: "again", Each: `viewed_skus.filter(s, s in bought_skus).map(s, s + ":again")`},
		{Name: "mapped_in", Each: `viewed_categories.map(c, "c" + c).filter(x, !(x in viewed_categories))`},
		{Name: "self", Each: `bought_categories.filter(c, c in bought_categories).map(c, "self:" + c)`},
		// Tags another rule gives too: vnb's, and those of a rule of each
		// kind that are the same for several elements or every profile.
		{Name: "vnb_too", Each: `viewed_skus.map(s, "vnb:" + s)`},
		{Name: "first_digit", Each: `viewed_skus.map(s, "digit:" + s.substring(0, 1))`},
		{Name: "digit:s", When: `r >= 0`},
	},
	Tiers: []Tier{{Name: "member", MinLifetime: "0"}, {Name: "gold", MinLifetime: "1000"}},
	// nested compares every viewed product with every bought one.
	CostLimit: 100_000_000,
}

// change returns in with one variable (or a trait) changed at random, to a
// value drawn from few, so that values come back.
func change(rng *rand.Rand, in Input) Input {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	list := func(prefix string) []string {
		l := make([]string, rng.IntN(12))
		for i := range l {
			l[i] = fmt.Sprint(prefix, rng.IntN(10))
		}
		return l
	}
	switch rng.IntN(23) {
	case 0:
		in.Stage = pick("N", "E0", "S1")
	case 1:
		in.R = rng.IntN(60)
	case 2:
		in.F = rng.IntN(5)
	case 3:
		in.M = rng.Int64N(3) * 60_000_000
	case 4:
		in.RScore, in.FScore = rng.IntN(6), rng.IntN(6)
	case 5:
		in.MScore = rng.IntN(6)
	case 6:
		in.Segment = pick("", "champions")
	case 7:
		in.Orders = rng.IntN(5)
	case 8:
		in.Lifetime = rng.Int64N(3) * 600_000_000
	case 9:
		in.CartValue = rng.Int64N(3) * 30_000_000
	case 10:
		in.BoughtSKUs = list("s")
	case 11:
		in.BoughtCategories = list("c")
	case 12:
		in.ViewedSKUs = list("s")
	case 13:
		in.ViewedCategories = list("c")
	case 19, 20: // a view: one product more, or one seen before again
		in.ViewedSKUs = append(slices.Clone(in.ViewedSKUs), fmt.Sprint("s", rng.IntN(10)))
	case 21: // the oldest view forgotten
		if len(in.ViewedSKUs) > 0 {
			in.ViewedSKUs = slices.Clone(in.ViewedSKUs[1:])
		}
	case 22:
		in.ViewedCategories = append(slices.Clone(in.ViewedCategories), fmt.Sprint("c", rng.IntN(10)))
	case 14, 15, 16:
		traits := map[string]any{}
		for k, v := range in.Traits {
			traits[k] = v
		}
		k := pick("age", "city", "since", "vip")
		switch rng.IntN(6) {
		case 0:
			delete(traits, k)
		case 1:
			traits[k] = float64(10 + rng.IntN(2)*10)
		case 2:
			traits[k] = pick("Taipei", "Tainan")
		case 3:
			traits[k] = rng.IntN(2) == 0
		case 4:
			traits[k] = time.Date(2020+rng.IntN(2)*10, 1, 1, 0, 0, 0, 0, time.UTC)
		case 5:
			traits[k] = fmt.Sprint(10 + rng.IntN(2)*10) // an age sent as a string
		}
		in.Traits = traits
	default:
		in.Consent = map[string]bool{"email": rng.IntN(2) == 0}
		if rng.IntN(3) == 0 {
			in.Consent = nil
		}
	}
	return in
}

// A memo changes nothing of what is evaluated: along random walks of a
// profile's values, where each step changes one variable and values come
// back, EvalMemo gives what Eval gives at every step. The walks take
// memoRules, and memoRules without the Each rules taken whole, where a
// change of a list changes the outcomes of elementwise rules alone, so that
// the memo inserts and removes their tags in its last ones (Memo.merged)
// instead of sorting them all.
func TestAMemoGivesWhatEvalGivesAsTheInputChanges(t *testing.T) {
	for name, c := range map[string]Config{"memoRules": memoRules, "elementwise": elementwiseRules(t)} {
		t.Run(name, func(t *testing.T) {
			e := mustCompile(t, c)
			rng := rand.New(rand.NewPCG(1, 2))
			merged := 0
			for walk := range 50 {
				var m Memo
				in := Input{}
				for step := range 100 {
					if step > 0 && rng.IntN(4) > 0 { // sometimes the same input again
						in = change(rng, in)
					}
					before := m.tags
					got, gotTier, err := e.EvalMemo(in, &m)
					want, wantTier, werr := e.Eval(in)
					if err != nil || werr != nil {
						t.Fatal(err, werr)
					}
					if !slices.Equal(got, want) || gotTier != wantTier {
						t.Fatalf("walk %d step %d: EvalMemo(%+v) = %q %q, Eval = %q %q", walk, step, in, got, gotTier, want, wantTier)
					}
					if len(before) > 0 && len(got) > 0 && !slices.Equal(before, got) && m.lastMerged {
						merged++
					}
				}
			}
			t.Logf("%d evaluations changed the tags by merging", merged)
			// The walks reach the path they are for: tags changed by merging.
			if name == "elementwise" && merged < 100 {
				t.Errorf("%d evaluations changed the tags by merging, want 100 or more", merged)
			}
		})
	}
}

// elementwiseRules is memoRules without the Each rules its engine takes
// whole (not elementwise).
func elementwiseRules(t *testing.T) Config {
	e := mustCompile(t, memoRules)
	c := memoRules
	c.Tags = nil
	for i, r := range e.rules {
		if !r.each || r.elem != nil {
			c.Tags = append(c.Tags, memoRules.Tags[i])
		}
	}
	return c
}

// A rule whose variables kept their values is not evaluated again: its
// outcome is the one the memo held, while a rule over a changed variable
// gets a new one.
func TestAMemoEvaluatesAgainOnlyTheRulesWhoseVariablesChanged(t *testing.T) {
	e := mustCompile(t, DefaultConfig())
	in := benchInput
	var m Memo
	if _, _, err := e.EvalMemo(in, &m); err != nil {
		t.Fatal(err)
	}
	bought, vnb := m.outs[3], m.outs[4] // bought_category, viewed_not_bought
	in.ViewedSKUs = append(slices.Clone(in.ViewedSKUs), "Z9")
	if _, _, err := e.EvalMemo(in, &m); err != nil {
		t.Fatal(err)
	}
	if &m.outs[3][0] != &bought[0] {
		t.Error("bought_category was evaluated again though bought_categories did not change")
	}
	if &m.outs[4][0] == &vnb[0] || !slices.Contains(m.outs[4], "viewed_not_bought:Z9") {
		t.Errorf("viewed_not_bought is %q after a new viewed product", m.outs[4])
	}
}

// One memo may be used by several goroutines at once (a customer evaluated
// twice in one batch, on two cores).
func TestAMemoIsSafeForConcurrentUse(t *testing.T) {
	e := mustCompile(t, memoRules)
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := make([]Input, 20)
	for i := range inputs {
		if i > 0 {
			inputs[i] = change(rng, change(rng, inputs[i-1]))
		}
	}
	var m Memo
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range 200 {
				in := inputs[(g*7+n)%len(inputs)]
				got, _, _ := e.EvalMemo(in, &m)
				want, _, _ := e.Eval(in)
				if !slices.Equal(got, want) {
					t.Errorf("EvalMemo = %q, Eval = %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A memo keeps copies: a caller that changes a list or a map it passed in
// (a profile's traits, handed on to a reader) does not change what the
// memo compares with.
func TestAMemoIsNotFooledByAnInputChangedInPlace(t *testing.T) {
	e := mustCompile(t, memoRules)
	in := Input{Traits: map[string]any{"age": 30.0}, ViewedSKUs: []string{"s1"}, Consent: map[string]bool{"email": true}}
	var m Memo
	if _, _, err := e.EvalMemo(in, &m); err != nil {
		t.Fatal(err)
	}
	in.Traits["age"], in.ViewedSKUs[0], in.Consent["email"] = 10.0, "s2", false
	got, _, err := e.EvalMemo(in, &m)
	want, _, _ := e.Eval(in)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("EvalMemo after changes in place = %q, %v; Eval = %q", got, err, want)
	}
}

// Each rules made of map and filter macros over a list are taken element by
// element, and the others whole.
func TestEachRulesOverAListAreTakenElementByElement(t *testing.T) {
	e := mustCompile(t, memoRules)
	want := map[string]bool{"bought": true, "vnb": true, "browser": true, "vnb3": true, "fails_on_s7": true, "chain": true, "many": true, "twos": true, "blank_c3": true, "nested": true,
		"again": true, "mapped_in": true, "self": true, "vnb_too": true, "first_digit": true}
	// Of each elementwise rule, which steps are run in Go.
	fast := map[string][]bool{"bought": {true}, "vnb": {true, true}, "browser": {true}, "vnb3": {true, true}, "fails_on_s7": {false},
		"chain": {false, false, false}, "many": {false, true}, "twos": {false}, "blank_c3": {false}, "nested": {false, true},
		"again": {true, true}, "mapped_in": {true, true}, "self": {true, true}, "vnb_too": {true}, "first_digit": {false}}
	for _, r := range e.rules {
		if r.each && (r.elem != nil) != want[r.name] {
			t.Errorf("rule %s: elementwise %v, want %v", r.name, r.elem != nil, want[r.name])
		}
		if r.elem != nil {
			var got []bool
			for _, s := range r.elem.steps {
				got = append(got, s.fast != nil)
			}
			if !slices.Equal(got, fast[r.name]) {
				t.Errorf("rule %s: steps run in Go %v, want %v", r.name, got, fast[r.name])
			}
		}
	}
}

// After a view of a new product, a memo evaluates the viewed_not_bought
// rule for that product alone: the tags of the others are the ones it
// kept, and it keeps outcomes only of the products viewed.
func TestAMemoEvaluatesOnlyTheNewElementsOfAList(t *testing.T) {
	e := mustCompile(t, DefaultConfig())
	in := benchInput
	var m Memo
	if _, _, err := e.EvalMemo(in, &m); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(m.outs[4]) // viewed_not_bought
	in.ViewedSKUs = append(slices.Clone(in.ViewedSKUs), "Z9")
	if _, _, err := e.EvalMemo(in, &m); err != nil {
		t.Fatal(err)
	}
	after := m.outs[4]
	if len(after) != len(before)+1 || after[len(after)-1] != "viewed_not_bought:Z9" {
		t.Fatalf("viewed_not_bought is %q after %q and a view of Z9", after, before)
	}
	for i, tag := range before {
		if unsafe.StringData(after[i]) != unsafe.StringData(tag) {
			t.Errorf("the tag %q was made again", tag)
		}
	}
	if n := len(m.elems[4]); n != len(in.ViewedSKUs) {
		t.Errorf("the memo keeps %d outcomes of %d products viewed", n, len(in.ViewedSKUs))
	}
	// A product bought: every viewed product is asked again.
	in.BoughtSKUs = append(slices.Clone(in.BoughtSKUs), "Z9")
	tags, _, err := e.EvalMemo(in, &m)
	if err != nil || slices.Contains(tags, "viewed_not_bought:Z9") {
		t.Errorf("after Z9 was bought: tags %q, %v", tags, err)
	}
}
