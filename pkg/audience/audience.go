// Package audience parses and evaluates audience expressions: boolean
// combinations of segments, stages, tiers, tags and comparisons of traits
// that select customers, the 交叉篩選 (cross filtering) of the source
// articles, such as
//
//	important_value AND bought:category:dog AND NOT S3
//
// The grammar, with NOT binding tighter than AND, and AND tighter than OR:
//
//	expr    = and { "OR" and }
//	and     = unary { "AND" unary }
//	unary   = "NOT" unary | primary
//	primary = "(" expr ")" | trait | name
//	trait   = "trait:" tname op value
//	tname   = one or more of a-z, 0-9, "_" and "."
//	op      = "=" | "!=" | "<" | "<=" | ">" | ">="
//	value   = quoted | number | "true" | "false"
//	name    = one or more characters other than space, "(" and ")"
//
// such as trait:city = "Hong Kong" AND trait:age >= 18. A quoted string is
// written as in Go ("Hong Kong", "say \"hi\""); spaces around op are
// optional. Keywords are case-insensitive. A name is resolved by the caller (see
// Resolve). Parse reports the byte offset of the first error, so an API can
// point at it. Evaluation is set algebra over sorted customer ids, so its
// result is sorted and the same for the same sets.
//
// An expression comes from whoever calls the API, so its size is bounded
// (MaxLen, MaxNames, MaxDepth) and every step — parsing, String, Names and
// Eval — takes time linear in its length (Eval: in its length times the
// sizes of the sets).
package audience

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Expr is a parsed expression.
type Expr interface {
	// String is the expression in canonical form, with the parentheses it
	// needs, which Parse reads back to the same expression.
	String() string
	// write appends the canonical form to b.
	write(b *strings.Builder)
	// names appends the names the expression uses.
	names(to []string) []string
}

// Name selects the customers a name stands for.
type Name struct{ Name string }

// Not selects the customers of the universe not in X.
type Not struct{ X Expr }

// And selects the customers in both L and R.
type And struct{ L, R Expr }

// Or selects the customers in L or R.
type Or struct{ L, R Expr }

// Compare selects the customers whose trait Trait compares with Value by
// Op: Value is a string, a float64 or a bool, and a bool is compared by =
// and != only.
type Compare struct {
	Trait string
	Op    Op
	Value any
}

// Op is a comparison operator.
type Op string

// Comparison operators.
const (
	Eq Op = "="
	Ne Op = "!="
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
)

func (n Name) String() string    { return n.Name }
func (c Compare) String() string { return canonical(c) }
func (n Not) String() string     { return canonical(n) }
func (a And) String() string     { return canonical(a) }
func (o Or) String() string      { return canonical(o) }

// canonical writes e into one builder: each node appends its part, so the
// form takes time linear in its length (nodes that each returned their
// children's strings joined copied every name once per level above it).
func canonical(e Expr) string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (n Name) write(b *strings.Builder) { b.WriteString(n.Name) }
func (c Compare) write(b *strings.Builder) {
	b.WriteString(traitPrefix + c.Trait + " " + string(c.Op) + " ")
	switch v := c.Value.(type) {
	case string:
		b.WriteString(strconv.Quote(v))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	}
}
func (n Not) write(b *strings.Builder) {
	b.WriteString("NOT ")
	paren(b, n.X, prec(n.X) < 3)
}
func (a And) write(b *strings.Builder) {
	paren(b, a.L, prec(a.L) < 2)
	b.WriteString(" AND ")
	paren(b, a.R, prec(a.R) <= 2)
}
func (o Or) write(b *strings.Builder) {
	o.L.write(b)
	b.WriteString(" OR ")
	paren(b, o.R, prec(o.R) <= 1)
}

// prec is how tightly an expression binds; String parenthesises only where
// precedence and left associativity require, so that the canonical form nests
// no deeper than the input did.
func prec(e Expr) int {
	switch e.(type) {
	case Or:
		return 1
	case And:
		return 2
	case Not:
		return 3
	}
	return 4
}

func paren(b *strings.Builder, e Expr, p bool) {
	if !p {
		e.write(b)
		return
	}
	b.WriteByte('(')
	e.write(b)
	b.WriteByte(')')
}

func (n Name) names(to []string) []string { return append(to, n.Name) }

// A Compare names no name: its trait is resolved by whoever evaluates it
// (see Compares).
func (c Compare) names(to []string) []string { return to }
func (n Not) names(to []string) []string     { return n.X.names(to) }
func (a And) names(to []string) []string     { return a.R.names(a.L.names(to)) }
func (o Or) names(to []string) []string      { return o.R.names(o.L.names(to)) }

// Names returns the distinct names e uses, sorted.
func Names(e Expr) []string {
	ns := e.names(nil)
	slices.Sort(ns)
	return slices.Compact(ns)
}

// Compares returns the comparisons of traits e makes, in order.
func Compares(e Expr) []Compare {
	switch x := e.(type) {
	case Compare:
		return []Compare{x}
	case Not:
		return Compares(x.X)
	case And:
		return append(Compares(x.L), Compares(x.R)...)
	case Or:
		return append(Compares(x.L), Compares(x.R)...)
	}
	return nil
}

// SyntaxError is an expression Parse refuses, malformed or beyond one of
// its limits: what is wrong, at which byte offset.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

// Limits of an expression, so that a hostile one costs little to refuse and
// at most MaxNames lookups to evaluate.
const (
	// MaxLen is the longest expression in bytes.
	MaxLen = 4096
	// MaxNames is the most names an expression uses, counting repeats.
	MaxNames = 64
	// MaxDepth bounds nesting (NOT and parentheses), so that an expression
	// cannot exhaust the stack.
	MaxDepth = 100
)

type token struct {
	kind string // "(", ")", "AND", "OR", "NOT", "name", "compare", "bad", "end"
	text string
	pos  int
	cmp  Compare      // of a compare
	err  *SyntaxError // of a bad token
}

func lex(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{kind: string(c), text: string(c), pos: i})
			i++
		case len(s)-i > len(traitPrefix) && strings.EqualFold(s[i:i+len(traitPrefix)], traitPrefix):
			t, j := lexCompare(s, i)
			toks = append(toks, t)
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()", rune(s[j])) {
				j++
			}
			w := s[i:j]
			kind := "name"
			if k := strings.ToUpper(w); k == "AND" || k == "OR" || k == "NOT" {
				kind = k
			}
			toks = append(toks, token{kind: kind, text: w, pos: i})
			i = j
		}
	}
	return append(toks, token{kind: "end", pos: len(s)})
}

type parser struct {
	toks  []token
	i     int
	depth int
	names int
}

// Parse parses s. A malformed expression, or one beyond MaxLen, MaxNames or
// MaxDepth, is a *SyntaxError.
func Parse(s string) (Expr, error) {
	if len(s) > MaxLen {
		return nil, &SyntaxError{Pos: MaxLen, Msg: fmt.Sprintf("longer than %d bytes (%d)", MaxLen, len(s))}
	}
	p := &parser{toks: lex(s)}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "end" {
		return nil, p.unexpected(t, "AND, OR or the end")
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) unexpected(t token, want string) error {
	got := fmt.Sprintf("%q", t.text)
	if t.kind == "end" {
		got = "the end"
	}
	return &SyntaxError{Pos: t.pos, Msg: "expected " + want + ", found " + got}
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == "OR" {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = Or{l, r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == "AND" {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = And{l, r}
	}
	return l, nil
}

func (p *parser) unary() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return nil, &SyntaxError{Pos: p.peek().pos, Msg: fmt.Sprintf("nested more than %d deep", MaxDepth)}
	}
	switch t := p.next(); t.kind {
	case "NOT":
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	case "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, p.unexpected(c, `")"`)
		}
		return e, nil
	case "name", "compare":
		if p.names++; p.names > MaxNames {
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("more than %d names", MaxNames)}
		}
		if t.kind == "compare" {
			return t.cmp, nil
		}
		return Name{t.text}, nil
	case "bad":
		return nil, t.err
	default:
		return nil, p.unexpected(t, `a name, NOT or "("`)
	}
}

// Set is a sorted set of customer ids without duplicates.
type Set []string

// NewSet returns the set of ids, sorted and without duplicates.
func NewSet(ids []string) Set {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

// Eval returns the customers e selects: names, and comparisons by their
// canonical form, are looked up in sets, and NOT is taken within universe.
// A name missing from sets selects nobody.
func Eval(e Expr, sets map[string]Set, universe Set) Set {
	switch x := e.(type) {
	case Name:
		return sets[x.Name]
	case Compare:
		return sets[x.String()]
	case Not:
		return diff(universe, Eval(x.X, sets, universe))
	case And:
		return intersect(Eval(x.L, sets, universe), Eval(x.R, sets, universe))
	case Or:
		return union(Eval(x.L, sets, universe), Eval(x.R, sets, universe))
	}
	return nil
}

func intersect(a, b Set) Set {
	var out Set
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b Set) Set {
	out := make(Set, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func diff(a, b Set) Set {
	var out Set
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

// After returns up to limit members of s greater than cursor, and the cursor
// of the next page ("" when there is none). Paging by the last id returned
// rather than by an offset keeps pages stable while members come and go: a
// customer in the set for the whole listing is returned exactly once.
func (s Set) After(cursor string, limit int) (page Set, next string) {
	i, _ := slices.BinarySearch(s, cursor)
	if i < len(s) && s[i] == cursor {
		i++
	}
	end := min(i+limit, len(s))
	page = s[i:end]
	if end < len(s) && len(page) > 0 {
		next = page[len(page)-1]
	}
	return page, next
}
