package campaign

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"

	"github.com/segflow/segflow/pkg/coupon"
)

// Input is what expressions see of an entry. The maps hold JSON-like values:
// strings, bools, ints, float64s, time.Time, slices and maps of these.
type Input struct {
	// Event is the entry event: "type" (its CloudEvent type), "time"
	// (time.Time) and "data" (its data as a map).
	Event map[string]any
	// Profile is the customer's profile: the keys of profile.Snapshot's JSON
	// (stage, segment, r_score, f_score, m_score, tier, tags, waterfall:
	// "" without a waterfall) and orders, lifetime and cart_value (float64,
	// major units), traits (by name: string, float64, bool or time.Time, as
	// profile.Profile.Traits) and consent (map[string]bool).
	Profile map[string]any
	// Change is the profile.Change of a profile.changed entry ("before",
	// "after", "changed"), else empty.
	Change map[string]any
}

// costLimit caps the CEL cost units one expression may spend on one entry, so
// that an expression over long lists cannot stall the service.
const costLimit = 1_000_000

var dynMap = cel.MapType(cel.StringType, cel.DynType)

// newEnv returns the CEL environment of When and of "${expr}" parameters.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", dynMap),
		cel.Variable("profile", dynMap),
		cel.Variable("change", dynMap),
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
	)
}

// celEnv is newEnv built once, for the conditions and steps of journeys.
var celEnv = sync.OnceValues(newEnv)

// Condition is a compiled CEL condition over an Input, as a campaign's When
// is: journeys branch and exit on them.
type Condition struct {
	text string
	prg  cel.Program
}

// NewCondition compiles expr, a bool over event, profile and change; its
// problems name field. An empty expr is nil, which always holds.
func NewCondition(field, expr string) (*Condition, error) {
	if expr == "" {
		return nil, nil
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	prg, err := compileExpr(env, field, expr, cel.BoolType)
	if err != nil {
		return nil, err
	}
	return &Condition{text: expr, prg: prg}, nil
}

// Holds reports whether c holds for in. A nil Condition always holds; an
// error is an expression that failed on in (a missing key, the cost limit).
func (c *Condition) Holds(in Input) (bool, error) {
	if c == nil {
		return true, nil
	}
	v, _, err := c.prg.Eval(in.vars())
	if err != nil {
		return false, err
	}
	return v == types.True, nil
}

// String returns the expression as written.
func (c *Condition) String() string {
	if c == nil {
		return ""
	}
	return c.text
}

// compileExpr compiles expr, which must be of one of the types want. Its
// problems name field and give positions as field:line:column, 1-based.
func compileExpr(env *cel.Env, field, expr string, want ...*cel.Type) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		errs := make([]error, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			// CEL columns are 0-based; editors and people count from 1.
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s", field, e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, errors.Join(errs...)
	}
	got := ast.OutputType()
	if !slices.ContainsFunc(want, got.IsExactType) {
		names := make([]string, len(want))
		for i, w := range want {
			names[i] = w.String()
		}
		return nil, fmt.Errorf("%s: must be %s, is %s", field, strings.Join(names, " or "), got)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return prg, nil
}

// action is a variant's compiled action.
type action struct {
	typ    string
	params map[string]param
	coupon *coupon.Definition // nil: the action carries no code
}

// param is a literal parameter, or an expression when prg is set.
type param struct {
	text string
	prg  cel.Program
}

// compileParams compiles the "${expr}" values of params, whose problems it
// names label.params.<key>. The map it returns is never nil.
func compileParams(env *cel.Env, label string, params map[string]string) (map[string]param, []error) {
	out := make(map[string]param, len(params))
	var errs []error
	for k, v := range params {
		field := label + ".params." + k
		if !strings.HasPrefix(v, "${") || !strings.HasSuffix(v, "}") {
			if strings.Contains(v, "${") {
				errs = append(errs, fmt.Errorf("%s: an expression ${...} must be the whole value", field))
			}
			out[k] = param{text: v}
			continue
		}
		prg, err := compileExpr(env, field, v[2:len(v)-1],
			cel.StringType, cel.IntType, cel.UintType, cel.DoubleType, cel.BoolType, cel.DynType)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[k] = param{text: v, prg: prg}
	}
	return out, errs
}

// vars is in as CEL variables; nil maps are empty.
func (in Input) vars() map[string]any {
	orEmpty := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	return map[string]any{"event": orEmpty(in.Event), "profile": orEmpty(in.Profile), "change": orEmpty(in.Change)}
}

var errNotCompiled = errors.New("not compiled: use a Campaign from Parse or Load")

// Matches reports whether in enters c: its event is of a type in On (for a
// birthday or habit campaign, of type DueEvent; for any campaign, of type
// BroadcastEvent) and When holds. An error is
// an expression that failed on in (a missing key, the cost limit); the
// caller should treat it as no match and record why.
func (c *Campaign) Matches(in Input) (bool, error) {
	if c.actions == nil {
		return false, fmt.Errorf("campaign %q: %w", c.Name, errNotCompiled)
	}
	typ, _ := in.Event["type"].(string)
	switch {
	case typ == BroadcastEvent:
		// Any campaign can be broadcast to an audience.
	case c.Kind == KindBroadcast:
		return false, nil
	case c.Kind == KindBirthday || c.Kind == KindHabit:
		if typ != DueEvent {
			return false, nil
		}
	case !slices.Contains(c.On, typ):
		return false, nil
	}
	if c.when == nil {
		return true, nil
	}
	v, _, err := c.when.Eval(in.vars())
	if err != nil {
		return false, fmt.Errorf("campaign %q: when: %w", c.Name, err)
	}
	return v == types.True, nil
}

// Cancels reports whether an event of type typ ends c's pending wait.
func (c *Campaign) Cancels(typ string) bool {
	return slices.Contains(c.CancelOn, typ)
}

// ActionType returns the action type of variant: coupon, points or message;
// "" for a variant c does not have.
func (c *Campaign) ActionType(variant string) string {
	return c.actions[variant].typ
}

// Params returns the action parameters of variant for in: the campaign's
// parameters with the variant's over them, "${expr}" values evaluated and
// written as strings (numbers in the shortest form that reads back exactly).
func (c *Campaign) Params(in Input, variant string) (map[string]string, error) {
	if c.actions == nil {
		return nil, fmt.Errorf("campaign %q: %w", c.Name, errNotCompiled)
	}
	a, ok := c.actions[variant]
	if !ok {
		return nil, fmt.Errorf("campaign %q: no variant %q", c.Name, variant)
	}
	vars := in.vars()
	out := make(map[string]string, len(a.params))
	for _, k := range slices.Sorted(maps.Keys(a.params)) { // the first error is always the same
		p := a.params[k]
		if p.prg == nil {
			out[k] = p.text
			continue
		}
		v, _, err := p.prg.Eval(vars)
		if err == nil {
			out[k], err = format(v)
		}
		if err != nil {
			return nil, fmt.Errorf("campaign %q: variant %q: params.%s: %w", c.Name, variant, k, err)
		}
	}
	return out, nil
}

// format writes a parameter's value as a string.
func format(v ref.Val) (string, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return strconv.FormatInt(int64(v), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case types.Double:
		return strconv.FormatFloat(float64(v), 'f', -1, 64), nil
	case types.Bool:
		return strconv.FormatBool(bool(v)), nil
	}
	return "", fmt.Errorf("is a %s, not a string, number or bool", v.Type())
}
