package audience

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseReadsTraitComparisons(t *testing.T) {
	for _, tt := range []struct {
		name, in  string
		want      Expr
		canonical string
	}{
		{"a quoted string with a space", `trait:city = "Hong Kong" AND important_value`,
			And{Compare{"city", Eq, "Hong Kong"}, Name{"important_value"}}, `trait:city = "Hong Kong" AND important_value`},
		{"a range of numbers, with or without spaces", `trait:age>=18 AND trait:age <= 24`,
			And{Compare{"age", Ge, 18.0}, Compare{"age", Le, 24.0}}, `trait:age >= 18 AND trait:age <= 24`},
		{"a boolean in parentheses", `(trait:vip != TRUE) OR NOT trait:address.city < "M"`,
			Or{Compare{"vip", Ne, true}, Not{Compare{"address.city", Lt, "M"}}}, `trait:vip != true OR NOT trait:address.city < "M"`},
		{"an escaped quote and a parenthesis inside a string", `trait:motto = "say \"hi\" (now)"`,
			Compare{"motto", Eq, `say "hi" (now)`}, `trait:motto = "say \"hi\" (now)"`},
		{"a negative fraction greater than", `trait:score > -1.5`, Compare{"score", Gt, -1.5}, `trait:score > -1.5`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e, tt.want) {
				t.Errorf("Parse = %#v, want %#v", e, tt.want)
			}
			if e.String() != tt.canonical {
				t.Errorf("String = %s, want %s", e, tt.canonical)
			}
			again, err := Parse(e.String())
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Errorf("the canonical form reads back as %#v, %v", again, err)
			}
		})
	}
}

func TestParseRefusesAMalformedTraitComparisonAtItsPosition(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		pos      int
	}{
		{"no trait name", `trait: = 1`, 6},
		{"a name of other characters", `trait:../x = 1`, 6},
		{"no operator", `trait:city "Taipei"`, 11},
		{"no value", `trait:age >=`, 12},
		{"an unclosed string", `a AND trait:city = "Hong Kong`, 19},
		{"a word that is no value", `trait:city = Taipei`, 13},
		{"an infinite number", `trait:age > 1e999`, 12},
		{"a boolean ordered", `trait:vip > false`, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos != tt.pos {
				t.Errorf("Parse(%q) error %v, want a syntax error at %d", tt.in, err, tt.pos)
			}
		})
	}
}
