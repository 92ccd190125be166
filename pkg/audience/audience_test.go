package audience

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseGivesNOTThenANDThenORPrecedence(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a", "a"},
		{"a AND b OR c", "a AND b OR c"},
		{"a OR b AND c", "a OR b AND c"},
		{"(a OR b) AND c", "(a OR b) AND c"},
		{"a AND (b AND c)", "a AND (b AND c)"},
		{"NOT a AND b", "NOT a AND b"},
		{"NOT (a AND b)", "NOT (a AND b)"},
		{"a and not b or c", "a AND NOT b OR c"},
		{"important_value AND bought:category:dog AND NOT S3", "important_value AND bought:category:dog AND NOT S3"},
		{"  ((a))  ", "a"},
		{"NOT NOT a", "NOT NOT a"},
		{"viewed_not_bought:sku-1 OR tier:gold", "viewed_not_bought:sku-1 OR tier:gold"},
	} {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want || !sameTree(t, e, got) {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// sameTree tells whether s parses to the same tree as e.
func sameTree(t *testing.T, e Expr, s string) bool {
	back, err := Parse(s)
	return err == nil && reflect.DeepEqual(back, e)
}

func TestParseReportsThePositionOfTheError(t *testing.T) {
	for _, tc := range []struct {
		in  string
		pos int
	}{
		{"", 0},
		{"a AND", 5},
		{"a b", 2},
		{"(a OR b", 7},
		{"a OR )", 5},
		{"AND a", 0},
		{"a AND NOT", 9},
		{"important_value AND AND S3", 20},
		{"a)", 1},
	} {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %v, want a SyntaxError", tc.in, err)
			continue
		}
		if se.Pos != tc.pos {
			t.Errorf("Parse(%q): error at %d (%v), want at %d", tc.in, se.Pos, se, tc.pos)
		}
	}
}

func TestParseRefusesNestingBeyondMaxDepth(t *testing.T) {
	deep := ""
	for range MaxDepth + 1 {
		deep += "("
	}
	if _, err := Parse(deep + "a"); err == nil {
		t.Fatal("no error for nesting beyond MaxDepth")
	}
}

func TestParseRefusesExpressionsBeyondItsLimitsAndAcceptsThemAtTheLimits(t *testing.T) {
	names := func(n int) string { return strings.TrimSuffix(strings.Repeat("a OR ", n), " OR ") }
	// At the limits: MaxNames names in exactly MaxLen bytes.
	long := strings.Repeat("x", MaxLen-len(names(MaxNames-1)+" OR "))
	atLimits := names(MaxNames-1) + " OR " + long
	if len(atLimits) != MaxLen {
		t.Fatalf("the expression at the limits is %d bytes", len(atLimits))
	}
	e, err := Parse(atLimits)
	if err != nil {
		t.Fatalf("an expression of %d names in %d bytes: %v", MaxNames, MaxLen, err)
	}
	if got := Names(e); !slices.Equal(got, []string{"a", long}) {
		t.Errorf("names %v", got)
	}
	for _, tc := range []struct {
		name, in string
		pos      int
		says     string
	}{
		{"one byte too long", atLimits + " ", MaxLen, fmt.Sprint(MaxLen)},
		{"100,000 names in 500 KB", names(100_000), MaxLen, fmt.Sprint(MaxLen)},
		{"one name too many", names(MaxNames + 1), len(names(MaxNames)) + len(" OR "), fmt.Sprint(MaxNames)},
		{"one name too many, repeated in parentheses", "(" + names(MaxNames) + ") AND b", len("(" + names(MaxNames) + ") AND "), fmt.Sprint(MaxNames)},
	} {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Pos != tc.pos || !strings.Contains(se.Msg, tc.says) {
			t.Errorf("%s: %v, want a SyntaxError at %d naming the limit %s", tc.name, err, tc.pos, tc.says)
		}
	}
}

// TestStringAllocatesLogarithmicallyNotPerNode: the canonical form of a long
// expression is written into one growing buffer. Joining the children's
// strings at every node allocated (and copied) once per node and level.
func TestStringAllocatesLogarithmicallyNotPerNode(t *testing.T) {
	for _, e := range []Expr{longOr(10_000), deepNest(10_000)} {
		if allocs := testing.AllocsPerRun(1, func() { _ = e.String() }); allocs > 100 {
			t.Errorf("String of %d bytes: %v allocations, want at most 100", len(e.String()), allocs)
		}
	}
}

// member tells by plain boolean logic whether customer c is selected: the
// independent definition Eval's set algebra is checked against.
func member(e Expr, c string, in map[string]map[string]bool) bool {
	switch x := e.(type) {
	case Name:
		return in[x.Name][c]
	case Not:
		return !member(x.X, c, in)
	case And:
		return member(x.L, c, in) && member(x.R, c, in)
	case Or:
		return member(x.L, c, in) || member(x.R, c, in)
	}
	panic("unknown expression")
}

func randomExpr(r *rand.Rand, depth int) string {
	names := []string{"a", "b", "c", "d"}
	switch k := r.IntN(5); {
	case depth == 0 || k == 0:
		return names[r.IntN(len(names))]
	case k == 1:
		return "NOT " + randomExpr(r, depth-1)
	case k == 2:
		return "(" + randomExpr(r, depth-1) + " AND " + randomExpr(r, depth-1) + ")"
	case k == 3:
		return randomExpr(r, depth-1) + " OR " + randomExpr(r, depth-1)
	default:
		return randomExpr(r, depth-1) + " AND " + randomExpr(r, depth-1)
	}
}

func TestEvalSelectsWhatBooleanLogicSelects(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var universe []string
	for i := range 60 {
		universe = append(universe, fmt.Sprintf("c%02d", i))
	}
	in := map[string]map[string]bool{}
	sets := map[string]Set{}
	for _, n := range []string{"a", "b", "c", "d"} {
		in[n] = map[string]bool{}
		var ids []string
		for _, c := range universe {
			if r.IntN(2) == 0 {
				in[n][c] = true
				ids = append(ids, c)
			}
		}
		sets[n] = NewSet(ids)
	}
	for range 300 {
		src := randomExpr(r, 4)
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		var want Set
		for _, c := range universe {
			if member(e, c, in) {
				want = append(want, c)
			}
		}
		if got := Eval(e, sets, NewSet(universe)); !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", e, got, want)
		}
	}
}

func TestAfterPagesEveryMemberOnceInOrder(t *testing.T) {
	s := NewSet([]string{"e", "b", "a", "d", "c", "b"})
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, next := s.After(cursor, 2)
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	// A cursor that has left the set still pages from where it was.
	page, _ := NewSet([]string{"a", "c", "d"}).After("b", 10)
	if !slices.Equal(page, Set{"c", "d"}) {
		t.Fatalf("after a removed cursor: %v", page)
	}
}

// FuzzParse checks that Parse never panics, that errors point inside the
// input, and that an expression parsed reads back from its canonical form.
func FuzzParse(f *testing.F) {
	deep := strings.Repeat("a AND ", 300) + "a"
	for _, s := range []string{deep, "a AND b", "NOT (a OR b) AND c", "important_value AND bought:category:dog AND NOT S3", "((", "a OR", ")",
		`trait:city = "Hong Kong" AND trait:age>=18`, `trait:vip != true`, `trait:a.b < -1e3`, `trait:x = "\u00e9\""`, `trait:`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			return
		}
		back, err := Parse(e.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", e.String(), s, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("%q reads back as %q", e.String(), back.String())
		}
	})
}
