package tag

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
)

// Input is what rules see of a profile. Money is in micros, millionths of the
// currency's major unit.
type Input struct {
	Stage                  string // NES stage: prospect, N, E0, S1, S2, S3
	R, F                   int    // RFM recency (days) and frequency (orders in the window)
	M                      int64  // RFM monetary, micros
	RScore, FScore, MScore int    // 1..5; 0 when not a buyer
	Segment                string // RFM segment name; "" when not a buyer
	Orders                 int    // orders ever
	Lifetime               int64  // lifetime spend, micros
	BoughtSKUs             []string
	BoughtCategories       []string
	ViewedSKUs             []string
	ViewedCategories       []string
	CartValue              int64          // open cart value, micros
	Traits                 map[string]any // string, float64, bool or time.Time values
	Consent                map[string]bool
}

// The CEL variables, in the order of the values an activation holds.
const (
	varStage = iota
	varR
	varF
	varM
	varRScore
	varFScore
	varMScore
	varSegment
	varOrders
	varLifetime
	varCartValue
	varBoughtSKUs
	varBoughtCategories
	varViewedSKUs
	varViewedCategories
	varTraits
	varConsent
	numVars
)

var (
	stringList    = cel.ListType(cel.StringType)
	dynMap        = cel.MapType(cel.StringType, cel.DynType)
	stringBoolMap = cel.MapType(cel.StringType, cel.BoolType)
)

// variables names and types the CEL variables; index i is the variable var*.
var variables = [numVars]struct {
	name string
	typ  *cel.Type
}{
	varStage:            {"stage", cel.StringType},
	varR:                {"r", cel.IntType},
	varF:                {"f", cel.IntType},
	varM:                {"m", cel.DoubleType},
	varRScore:           {"r_score", cel.IntType},
	varFScore:           {"f_score", cel.IntType},
	varMScore:           {"m_score", cel.IntType},
	varSegment:          {"segment", cel.StringType},
	varOrders:           {"orders", cel.IntType},
	varLifetime:         {"lifetime", cel.DoubleType},
	varCartValue:        {"cart_value", cel.DoubleType},
	varBoughtSKUs:       {"bought_skus", stringList},
	varBoughtCategories: {"bought_categories", stringList},
	varViewedSKUs:       {"viewed_skus", stringList},
	varViewedCategories: {"viewed_categories", stringList},
	varTraits:           {"traits", dynMap},
	varConsent:          {"consent", stringBoolMap},
}

// newEnv returns the CEL environment rules are written in: the standard
// library, the strings extension (lowerAscii, split, ...), optional values
// (traits[?"city"].orValue("")) and comparisons across int and double, so that
// m >= 500 means what it says. The parser records the macros it expands,
// so that the steps of an elementwise rule (each.go) can be written out as
// they were written, nested macros included.
func newEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.EnableMacroCallTracking(),
	}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	return cel.NewEnv(opts...)
}

// Engine evaluates a compiled Config. It is immutable and safe for concurrent
// use.
type Engine struct {
	rules []rule
	tiers []tier        // ascending by min
	reads [numVars]bool // the variables some rule reads
}

type rule struct {
	name string
	each bool
	prg  cel.Program
	vars []int    // the variables the expression reads (var*)
	tag  []string // a When rule's tag: its name
	// elem is an Each rule's elementwise form, nil if it has none
	// (each.go): a memo evaluates the rule through it.
	elem *elementwise
}

type tier struct {
	name string
	min  money.Micros
}

// Compile checks c and compiles its rules. Each expression is type-checked:
// When must be a bool and Each a list(string). Rule and tier names must be
// non-empty and unique, and tier thresholds exact decimals in strictly
// ascending order. Compile reports every problem it finds, each with the
// rule's name and, for CEL errors, the line and column (1-based) in the
// expression.
func Compile(c Config) (*Engine, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("tag: build CEL environment: %w", err)
	}
	limit := c.CostLimit
	if limit == 0 {
		limit = DefaultCostLimit
	}
	var errs []error
	e := &Engine{}
	seen := map[string]bool{}
	for i, r := range c.Tags {
		p, err := compileRule(env, r, limit, "tag rule "+ruleName(r.Name, i))
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("tag rule #%d: no name", i+1))
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("tag rule %q: name used twice", r.Name))
		}
		seen[r.Name] = true
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.rules = append(e.rules, p)
		for _, v := range p.vars {
			e.reads[v] = true
		}
	}
	seen = map[string]bool{}
	for i, t := range c.Tiers {
		name := ruleName(t.Name, i)
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("tier #%d: no name", i+1))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("tier %q: name used twice", t.Name))
		}
		seen[t.Name] = true
		m, err := money.ParseDecimal(t.MinLifetime)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("tier %s: min_lifetime: %w", name, err))
			continue
		case m < 0:
			errs = append(errs, fmt.Errorf("tier %s: min_lifetime %s is negative", name, t.MinLifetime))
			continue
		}
		if n := len(e.tiers); n > 0 && m <= e.tiers[n-1].min {
			errs = append(errs, fmt.Errorf("tier %s: min_lifetime %s is not above %s of tier %q before it",
				name, t.MinLifetime, e.tiers[n-1].min, e.tiers[n-1].name))
		}
		e.tiers = append(e.tiers, tier{name: t.Name, min: m})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("tag: invalid config: %w", errors.Join(errs...))
	}
	return e, nil
}

// ruleName is how problems name a rule or tier: by its name, or by its
// position when it has none.
func ruleName(name string, i int) string {
	if name == "" {
		return fmt.Sprintf("#%d", i+1)
	}
	return fmt.Sprintf("%q", name)
}

// compileRule compiles r, whose problems it reports prefixed with label, one
// per line.
func compileRule(env *cel.Env, r Rule, limit uint64, label string) (rule, error) {
	var field, expr string
	var want *cel.Type
	switch {
	case r.When != "" && r.Each != "":
		return rule{}, fmt.Errorf("%s: has both when and each; a rule has one", label)
	case r.When != "":
		field, expr, want = "when", r.When, cel.BoolType
	case r.Each != "":
		field, expr, want = "each", r.Each, stringList
	default:
		return rule{}, fmt.Errorf("%s: has neither when nor each", label)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		errs := make([]error, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			// CEL columns are 0-based; editors and people count from 1.
			errs = append(errs, fmt.Errorf("%s: %s:%d:%d: %s",
				label, field, e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return rule{}, errors.Join(errs...)
	}
	if got := ast.OutputType(); !got.IsExactType(want) {
		return rule{}, fmt.Errorf("%s: %s: must be %s, is %s", label, field, want, got)
	}
	// The cost is bounded before the rule ever runs, from the largest inputs a
	// profile can have (see MaxListSize), so evaluation needs no run-time cost
	// tracking, which would cost about as much as the rules themselves.
	est, err := env.EstimateCost(ast, sizes{})
	if err != nil {
		return rule{}, fmt.Errorf("%s: %s: estimate cost: %w", label, field, err)
	}
	if est.Max > limit {
		return rule{}, fmt.Errorf("%s: %s: may cost up to %d units on the largest profile, above the limit %d", label, field, est.Max, limit)
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return rule{}, fmt.Errorf("%s: %s: %w", label, field, err)
	}
	var vars []int
	for _, ref := range ast.NativeRep().ReferenceMap() {
		for i, v := range variables {
			if ref.Name == v.name && !slices.Contains(vars, i) {
				vars = append(vars, i)
			}
		}
	}
	slices.Sort(vars)
	out := rule{name: r.Name, each: field == "each", prg: prg, vars: vars, tag: []string{r.Name}}
	if out.each {
		out.elem = elementwiseOf(env, ast)
	}
	return out, nil
}

// Live is a When rule whose outcome moves with time or with the rest of the
// population (it reads stage, r, a score or the segment) while reading
// nothing a population view lacks (lists, traits, consent, the cart): a view
// evaluates it at the time of each question, so that the tag is exact then,
// not as it was at the customer's last evaluation.
type Live struct {
	Name string
	r    rule
}

// liveVars move with time or the population; viewVars are what a
// population view holds of every customer.
var (
	liveVars = []int{varStage, varR, varRScore, varFScore, varMScore, varSegment}
	viewVars = []int{varStage, varR, varF, varM, varRScore, varFScore, varMScore, varSegment, varOrders, varLifetime}
)

// Live returns the engine's live rules.
func (e *Engine) Live() []Live {
	var out []Live
	for _, r := range e.rules {
		live := slices.ContainsFunc(r.vars, func(v int) bool { return slices.Contains(liveVars, v) })
		held := !slices.ContainsFunc(r.vars, func(v int) bool { return !slices.Contains(viewVars, v) })
		if !r.each && live && held {
			out = append(out, Live{Name: r.name, r: r})
		}
	}
	return out
}

// Eval tells whether the rule holds for in.
func (l Live) Eval(in Input) (bool, error) {
	act := newActivation(&in)
	v, _, err := l.r.prg.Eval(act)
	act.free()
	if err != nil {
		return false, fmt.Errorf("tag rule %q: %w", l.Name, err)
	}
	return v == types.True, nil
}

// Key returns what the rule's outcome depends on in in: two inputs with the
// same key have the same outcome, so a caller may keep outcomes by key.
func (l Live) Key(in Input) [10]int64 {
	var k [10]int64
	for i, v := range l.r.vars {
		if i == len(k) {
			break
		}
		switch v {
		case varStage:
			k[i] = int64(slices.Index(nes.Stages, nes.Stage(in.Stage)))
		case varR:
			k[i] = int64(in.R)
		case varF:
			k[i] = int64(in.F)
		case varM:
			k[i] = in.M
		case varRScore:
			k[i] = int64(in.RScore)
		case varFScore:
			k[i] = int64(in.FScore)
		case varMScore:
			k[i] = int64(in.MScore)
		case varSegment:
			k[i] = int64(slices.Index(rfm.Segments, in.Segment))
		case varOrders:
			k[i] = int64(in.Orders)
		case varLifetime:
			k[i] = in.Lifetime
		}
	}
	return k
}

// Eval returns the tags of in, sorted and without duplicates, and its tier:
// the highest whose MinLifetime is at most in.Lifetime, or "" if none is. An
// Each rule's empty strings are no tags. A rule that fails at run time on
// in's values — a trait in lacks, or holds of another type than the rule
// compares it with (traits.age >= 18 of an age sent as "18") — holds not
// for in: traits come from clients, and one customer's data must neither
// stop the evaluation of the others nor keep tags their values no longer
// earn. Write traits[?"age"].orValue(0) to read a trait that may be absent.
// The error is for an Each rule whose result is not a list of strings.
func (e *Engine) Eval(in Input) (tags []string, tier string, err error) {
	return e.eval(in, nil)
}

// eval is Eval, taking the outcomes of rules whose inputs did not change
// from m (nil: none) and keeping the others there.
func (e *Engine) eval(in Input, m *Memo) (tags []string, tier string, err error) {
	var act *activation
	var buf [8][]string // the rules' outcomes, on the stack for up to 8 rules
	outs := buf[:0]
	had := m != nil && m.outs != nil // a last evaluation, whose tags m has
	// How the tags differ from the last evaluation's, on the stack for up
	// to 4 tags added and 4 removed by up to 8 rules.
	var add, del [4]string
	var rulesOK [8]bool
	d := delta{on: had, add: add[:0], del: del[:0], ok: rulesOK[:]}
	if had && len(e.rules) > len(rulesOK) {
		d.ok = make([]bool, len(e.rules))
	}
	n := 0
	for i, r := range e.rules {
		out, ok := m.outcome(e, i)
		if !ok {
			if act == nil {
				act = newActivation(&in)
			}
			if r.elem != nil && m != nil {
				out, d = m.elementwise(e, i, act, &in, d)
			} else if out, err = r.eval(act); err != nil {
				act.free()
				return nil, "", err
			}
			m.keep(i, out)
		}
		outs, n = append(outs, out), n+len(out)
	}
	if act != nil {
		act.free()
	}
	m.done(in)
	var ok bool
	if had {
		tags, ok = m.merged(outs, d)
	}
	if !ok {
		if n > 0 {
			tags = make([]string, 0, n)
			for _, out := range outs {
				tags = append(tags, out...)
			}
		}
		slices.Sort(tags)
		tags = slices.Compact(tags)
	}
	if m != nil {
		m.tags, m.lastMerged = tags, ok
	}
	for i := len(e.tiers) - 1; i >= 0; i-- {
		if money.Micros(in.Lifetime) >= e.tiers[i].min {
			return tags, e.tiers[i].name, nil
		}
	}
	return tags, "", nil
}

// eval returns the tags r gives act's input: its name if a When rule holds,
// the non-empty strings an Each rule returns, none if it fails at run time
// (see Engine.Eval).
func (r rule) eval(act *activation) ([]string, error) {
	v, _, err := r.prg.Eval(act)
	if err != nil {
		return nil, nil
	}
	if !r.each {
		if v == types.True {
			return r.tag, nil
		}
		return nil, nil
	}
	// Compile checked the type, so a failed assertion here is a CEL bug.
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("tag rule %q: each returned %s, not a list", r.name, v.Type())
	}
	n, _ := l.Size().(types.Int)
	tags := make([]string, 0, n)
	for it := l.Iterator(); it.HasNext() == types.True; {
		s, ok := it.Next().(types.String)
		if !ok {
			return nil, fmt.Errorf("tag rule %q: each returned a list with a non-string", r.name)
		}
		if s != "" {
			tags = append(tags, string(s))
		}
	}
	return tags, nil
}

// activation resolves the CEL variables to in's fields, each converted on
// its first use and kept for the rules after: a rule set that reads neither
// traits nor lists (most rules) costs no conversion of them.
type activation struct {
	in   Input // a copy, so that the caller's stays on its stack
	vals [numVars]ref.Val
}

// activations are activations free for use: an evaluation takes one when
// a rule must run and gives it back when its rules have run, since nothing
// a rule returns refers to it (tags are Go strings).
var activations = sync.Pool{New: func() any { return new(activation) }}

func newActivation(in *Input) *activation {
	a := activations.Get().(*activation)
	a.in = *in
	return a
}

// free gives a back to activations, holding nothing of its input.
func (a *activation) free() {
	*a = activation{}
	activations.Put(a)
}

// major converts micros to a double in major units for CEL.
func major(micros int64) types.Double {
	return types.Double(float64(micros) / 1e6)
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i := varIndex(name)
	if i < 0 {
		return nil, false
	}
	return a.val(i), true
}

// val is the CEL value of the variable i (var*), converted on its first
// use.
func (a *activation) val(i int) ref.Val {
	if a.vals[i] == nil {
		a.vals[i] = a.convert(i)
	}
	return a.vals[i]
}

// has tells whether the list variable i (var*) holds s, as CEL's s in
// the list does.
func (a *activation) has(i int, s string) bool {
	return a.val(i).(*setList).Contains(types.String(s)) == types.True
}

// varIndex is the index (var*) of the variable name, or -1.
func varIndex(name string) int {
	switch name {
	case "stage":
		return varStage
	case "r":
		return varR
	case "f":
		return varF
	case "m":
		return varM
	case "r_score":
		return varRScore
	case "f_score":
		return varFScore
	case "m_score":
		return varMScore
	case "segment":
		return varSegment
	case "orders":
		return varOrders
	case "lifetime":
		return varLifetime
	case "cart_value":
		return varCartValue
	case "bought_skus":
		return varBoughtSKUs
	case "bought_categories":
		return varBoughtCategories
	case "viewed_skus":
		return varViewedSKUs
	case "viewed_categories":
		return varViewedCategories
	case "traits":
		return varTraits
	case "consent":
		return varConsent
	}
	return -1
}

// convert returns the CEL value of the variable i (var*).
func (a *activation) convert(i int) ref.Val {
	in := &a.in
	switch i {
	case varStage:
		return types.String(in.Stage)
	case varR:
		return types.Int(in.R)
	case varF:
		return types.Int(in.F)
	case varM:
		return major(in.M)
	case varRScore:
		return types.Int(in.RScore)
	case varFScore:
		return types.Int(in.FScore)
	case varMScore:
		return types.Int(in.MScore)
	case varSegment:
		return types.String(in.Segment)
	case varOrders:
		return types.Int(in.Orders)
	case varLifetime:
		return major(in.Lifetime)
	case varCartValue:
		return major(in.CartValue)
	case varBoughtSKUs:
		return newStringList(in.BoughtSKUs)
	case varBoughtCategories:
		return newStringList(in.BoughtCategories)
	case varViewedSKUs:
		return newStringList(in.ViewedSKUs)
	case varViewedCategories:
		return newStringList(in.ViewedCategories)
	case varTraits:
		return types.NewDynamicMap(types.DefaultTypeAdapter, in.Traits)
	case varConsent:
		return types.NewDynamicMap(types.DefaultTypeAdapter, in.Consent)
	}
	panic(fmt.Sprintf("tag: no variable %d", i))
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// Bounds of what a rule sees: a profile keeps at most 100 viewed products and
// categories and 200 bought ones, a few traits, and ids, names and trait
// values within the schemas' lengths.
const (
	MaxListSize   = 200
	MaxStringSize = 4096
)

// sizes tells CEL's cost estimator how large the inputs can be.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	if t := n.Type(); t != nil && t.String() == "string" {
		return &cost.SizeEstimate{Min: 0, Max: MaxStringSize}
	}
	return &cost.SizeEstimate{Min: 0, Max: MaxListSize}
}

func (sizes) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
