package tag

import (
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"
)

// Env returns the CEL environment tag rules are written in, extended with
// decls: the environment of other rules over a profile (pkg/waterfall), so
// that every rule reads the profile's variables by the same names and
// types, and a variable added here reaches them all.
func Env(decls ...cel.EnvOption) (*cel.Env, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	if len(decls) == 0 {
		return env, nil
	}
	return env.Extend(decls...)
}

// CompileWhen compiles the boolean expression when in env (built by Env)
// as Compile compiles a rule's When: type-checked, and refused if it may
// cost more than limit (0 means DefaultCostLimit) on the largest profile.
// Problems are prefixed with label, and CEL's give the line and column
// (1-based) in the expression. It returns the program and the variables of
// Input it reads (those env adds are not among them).
func CompileWhen(env *cel.Env, when string, limit uint64, label string) (cel.Program, Reads, error) {
	if limit == 0 {
		limit = DefaultCostLimit
	}
	r, err := compileRule(env, Rule{When: when}, limit, label)
	if err != nil {
		return nil, Reads{}, err
	}
	return r.prg, Reads{vars: r.vars}, nil
}

// Activation returns in's fields as the variables of Env, for a program
// compiled there; a caller with variables of its own makes it the parent
// of theirs (interpreter.NewHierarchicalActivation).
func (in Input) Activation() interpreter.Activation { return newActivation(&in) }

// Reads is the set of the profile's variables (Input's) that expressions
// read, for a caller that evaluates them over a population view as the
// view does live rules (Live).
type Reads struct{ vars []int }

// Union returns the variables either reads.
func (r Reads) Union(o Reads) Reads {
	vars := append(slices.Clone(r.vars), o.vars...)
	slices.Sort(vars)
	return Reads{vars: slices.Compact(vars)}
}

// Moves tells whether r has a variable whose value moves with time or with
// the rest of the population: stage, r, a score or the segment.
func (r Reads) Moves() bool {
	return slices.ContainsFunc(r.vars, func(v int) bool { return slices.Contains(liveVars, v) })
}

// Held tells whether a population view holds every variable of r.
func (r Reads) Held() bool {
	return !slices.ContainsFunc(r.vars, func(v int) bool { return !slices.Contains(viewVars, v) })
}

// Key returns what in's values of r are, as Live.Key does for a rule: two
// inputs with the same key have the same values of r.
func (r Reads) Key(in Input) [10]int64 { return Live{r: rule{vars: r.vars}}.Key(in) }
