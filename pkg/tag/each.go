package tag

import (
	"slices"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"cel.dev/cel-go/parser"
)

// elementwise is an Each rule that takes every element of a list variable on
// its own, through map and filter macros over the list:
// viewed_skus.map(s, "viewed:" + s), viewed_skus.map(s, !(s in bought_skus),
// "viewed_not_bought:" + s), viewed_skus.filter(s, p).map(s, f) and their
// chains. Such a rule's tags are the concatenation of what each element
// gives, and an element gives what it gives whatever the other elements are,
// so a memo keeps each element's outcome and, when the list changed and the
// other variables the steps read did not (a view adds a product), evaluates
// only the elements it has not seen: one, not the whole list.
type elementwise struct {
	list  int    // the list variable (var*)
	steps []step // in order
	vars  []int  // the variables the steps read (var*)
}

// step is one macro of the chain, evaluated with the element as the
// variable name: a filter keeps the element while prg is true, a map makes
// the element prg's string. A step of one of the forms rules are mostly
// made of is run in Go (fast), which gives what prg gives.
type step struct {
	name   string
	prg    cel.Program
	filter bool
	fast   *fastStep
}

// fastStep is a step of one of two forms, run in Go: a map to
// prefix + x + suffix (one of them empty), or a filter on x in a list
// variable, or not in it (not).
type fastStep struct {
	prefix, suffix string
	in             bool // a filter: x in the list variable list
	list           int
	not            bool
}

// fastStepOf returns the fast form of e, the body of a step whose element
// is the variable name, if it has one: "<literal>" + name, name +
// "<literal>", name in <list variable>, or !(name in <list variable>).
func fastStepOf(e celast.Expr, name string, filter bool) *fastStep {
	if !filter {
		call, ok := callOf(e, operators.Add)
		if !ok {
			return nil
		}
		a, b := call.Args()[0], call.Args()[1]
		if lit, ok := stringLiteral(a); ok && isIdent(b, name) {
			return &fastStep{prefix: lit}
		}
		if lit, ok := stringLiteral(b); ok && isIdent(a, name) {
			return &fastStep{suffix: lit}
		}
		return nil
	}
	not := false
	if call, ok := callOf(e, operators.LogicalNot); ok {
		not, e = true, call.Args()[0]
	}
	call, ok := callOf(e, operators.In)
	if !ok || !isIdent(call.Args()[0], name) || call.Args()[1].Kind() != celast.IdentKind {
		return nil
	}
	i := varIndex(call.Args()[1].AsIdent())
	if i < 0 || variables[i].typ != stringList {
		return nil
	}
	return &fastStep{in: true, list: i, not: not}
}

// stringLiteral is e's value if e is a string literal.
func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// elementwiseOf returns the elementwise form of the checked Each rule a, or
// nil if it has none: its expression is not a chain of map and filter macros
// over a list variable, or a step cannot be compiled on its own (it reads
// the accumulator, or its variable hides one of the profile's).
func elementwiseOf(env *cel.Env, a *cel.Ast) *elementwise {
	native := a.NativeRep()
	ew := &elementwise{}
	if !ew.chain(env, native.Expr(), native.SourceInfo()) {
		return nil
	}
	slices.Sort(ew.vars)
	ew.vars = slices.Compact(ew.vars)
	return ew
}

// chain sets ew to the chain of e: a list variable, or a map or filter
// comprehension over a chain.
func (ew *elementwise) chain(env *cel.Env, e celast.Expr, info *celast.SourceInfo) bool {
	switch e.Kind() {
	case celast.IdentKind:
		i := varIndex(e.AsIdent())
		if i < 0 || variables[i].typ != stringList {
			return false
		}
		ew.list = i
		return true
	case celast.ComprehensionKind:
	default:
		return false
	}
	c := e.AsComprehension()
	accu := c.AccuVar()
	if c.HasIterVar2() || !isEmptyList(c.AccuInit()) || !isTrue(c.LoopCondition()) || !isIdent(c.Result(), accu) {
		return false
	}
	if !ew.chain(env, c.IterRange(), info) {
		return false
	}
	// The step is accu + [f], or p ? accu + [f] : accu.
	var p celast.Expr
	add := c.LoopStep()
	if call, ok := callOf(add, operators.Conditional); ok {
		if !isIdent(call.Args()[2], accu) {
			return false
		}
		p, add = call.Args()[0], call.Args()[1]
	}
	call, ok := callOf(add, operators.Add)
	if !ok || !isIdent(call.Args()[0], accu) || call.Args()[1].Kind() != celast.ListKind || len(call.Args()[1].AsList().Elements()) != 1 {
		return false
	}
	f := call.Args()[1].AsList().Elements()[0]
	name := c.IterVar()
	if varIndex(name) >= 0 {
		return false
	}
	if p != nil && !ew.step(env, name, p, info, true) {
		return false
	}
	if isIdent(f, name) {
		return true // the element itself: filter(x, p), or map(x, x)
	}
	return ew.step(env, name, f, info, false)
}

// step compiles e, the body of a macro whose element is the variable name,
// as a program of its own, and appends it to ew's steps.
func (ew *elementwise) step(env *cel.Env, name string, e celast.Expr, info *celast.SourceInfo, filter bool) bool {
	src, err := parser.Unparse(e, info)
	if err != nil {
		return false
	}
	sub, err := env.Extend(cel.Variable(name, cel.StringType))
	if err != nil {
		return false
	}
	a, iss := sub.Compile(src)
	if iss.Err() != nil {
		return false
	}
	want := cel.StringType
	if filter {
		want = cel.BoolType
	}
	if !a.OutputType().IsExactType(want) {
		return false
	}
	prg, err := sub.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return false
	}
	for _, r := range a.NativeRep().ReferenceMap() {
		if i := varIndex(r.Name); i >= 0 && r.Name != name {
			ew.vars = append(ew.vars, i)
		}
	}
	ew.steps = append(ew.steps, step{name: name, prg: prg, filter: filter, fast: fastStepOf(e, name, filter)})
	return true
}

func callOf(e celast.Expr, fn string) (celast.CallExpr, bool) {
	if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != fn || e.AsCall().IsMemberFunction() {
		return nil, false
	}
	return e.AsCall(), true
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

func isEmptyList(e celast.Expr) bool {
	return e.Kind() == celast.ListKind && len(e.AsList().Elements()) == 0
}

func isTrue(e celast.Expr) bool {
	return e.Kind() == celast.LiteralKind && e.AsLiteral() == types.True
}

// elemOut is what one element gave: its tag, if it has one.
type elemOut struct {
	elem string
	tag  string
	has  bool
}

// eval returns the tags of the elements of list, taking the outcome of an
// element from seen (the outcomes of the last evaluation, in the order of
// its list) when it is there, and this evaluation's outcomes, in the order
// of list. An element whose steps fail makes the rule hold not
// (Engine.Eval): no tags, and the outcomes found before it. If d.on, it
// returns d with the tags of the elements evaluated afresh appended to
// d.add and those of the elements of seen the list no longer has to d.del:
// the difference from seen's tags, whatever the order (Memo.merged).
//
// Lists keep their order from one evaluation to the next (the newest item
// last, the oldest dropped first), so an element is looked for where the
// last one left off, then one further, then (rarely: an item seen again
// moves to the end) anywhere.
func (ew *elementwise) eval(act *activation, list []string, seen []elemOut, d delta) ([]string, []elemOut, delta) {
	tags := make([]string, 0, len(list))
	outs := make([]elemOut, 0, len(list))
	ea := elemActivation{parent: act}
	var kept bitset // of seen, the elements list still has
	if d.on {
		kept = newBitset(len(seen))
	}
	var at map[string]int // seen by element, once lookups far off are many
	far := 0
	j := 0 // where the next element is looked for first
	for _, x := range list {
		k := -1
		switch {
		case j < len(seen) && seen[j].elem == x:
			k = j
		case j+1 < len(seen) && seen[j+1].elem == x:
			k = j + 1
		case len(seen) > 0:
			if far++; far > linearBelow && at == nil {
				at = make(map[string]int, len(seen))
				for i, o := range seen {
					at[o.elem] = i
				}
			}
			if at != nil {
				if i, ok := at[x]; ok {
					k = i
				}
			} else {
				k = slices.IndexFunc(seen, func(o elemOut) bool { return o.elem == x })
			}
		}
		var o elemOut
		if k >= 0 {
			o, j = seen[k], k+1
			if d.on {
				kept.set(k)
			}
		} else {
			var ok bool
			if o, ok = ew.one(&ea, x); !ok {
				return nil, outs, d
			}
			if d.on && o.has {
				d.add = append(d.add, o.tag)
			}
		}
		outs = append(outs, o)
		if o.has {
			tags = append(tags, o.tag)
		}
	}
	if d.on {
		for k, o := range seen {
			if o.has && !kept.has(k) {
				d.del = append(d.del, o.tag)
			}
		}
	}
	return tags, outs, d
}

// bitset is a set of small integers, on the stack up to 256.
type bitset struct {
	buf  [4]uint64
	more []uint64
}

func newBitset(n int) bitset {
	var b bitset
	if n > 64*len(b.buf) {
		b.more = make([]uint64, (n+63)/64)
	}
	return b
}

func (b *bitset) words() []uint64 {
	if b.more != nil {
		return b.more
	}
	return b.buf[:]
}

func (b *bitset) set(i int) { b.words()[i/64] |= 1 << (i % 64) }

func (b *bitset) has(i int) bool { return b.words()[i/64]&(1<<(i%64)) != 0 }

// one runs the steps on the element x; false if one fails.
func (ew *elementwise) one(ea *elemActivation, x string) (elemOut, bool) {
	o := elemOut{elem: x}
	v := types.String(x)
	for _, s := range ew.steps {
		if f := s.fast; f != nil {
			if !f.in {
				v = types.String(f.prefix + string(v) + f.suffix)
			} else if ea.parent.has(f.list, string(v)) == f.not {
				return o, true
			}
			continue
		}
		ea.name, ea.val = s.name, v
		out, _, err := s.prg.Eval(ea)
		if err != nil {
			return o, false
		}
		if s.filter {
			if out != types.True {
				return o, out == types.False
			}
			continue
		}
		str, ok := out.(types.String)
		if !ok {
			return o, false
		}
		v = str
	}
	o.tag, o.has = string(v), v != ""
	return o, true
}

// elemActivation is a step's element over the profile's variables.
type elemActivation struct {
	name   string
	val    ref.Val
	parent *activation
}

// ResolveName implements interpreter.Activation.
func (a *elemActivation) ResolveName(name string) (any, bool) {
	if name == a.name {
		return a.val, true
	}
	return a.parent.ResolveName(name)
}

// Parent implements interpreter.Activation.
func (a *elemActivation) Parent() interpreter.Activation { return a.parent }

// listOf is in's value of the list variable v.
func listOf(in *Input, v int) []string {
	switch v {
	case varBoughtSKUs:
		return in.BoughtSKUs
	case varBoughtCategories:
		return in.BoughtCategories
	case varViewedSKUs:
		return in.ViewedSKUs
	case varViewedCategories:
		return in.ViewedCategories
	}
	return nil
}
