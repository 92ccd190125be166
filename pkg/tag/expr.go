package tag

import (
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
// (1-based) in the expression.
func CompileWhen(env *cel.Env, when string, limit uint64, label string) (cel.Program, error) {
	if limit == 0 {
		limit = DefaultCostLimit
	}
	r, err := compileRule(env, Rule{When: when}, limit, label)
	if err != nil {
		return nil, err
	}
	return r.prg, nil
}

// Activation returns in's fields as the variables of Env, for a program
// compiled there; a caller with variables of its own makes it the parent
// of theirs (interpreter.NewHierarchicalActivation).
func (in Input) Activation() interpreter.Activation { return newActivation(&in) }
