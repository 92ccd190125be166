package waterfall

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/segflow/segflow/pkg/tag"
)

// Input is what conditions see of a profile: what tag rules see, and their
// outcome.
type Input struct {
	tag.Input
	Tags []string // sorted
	Tier string
}

// Engine evaluates a compiled Config. It is immutable and safe for
// concurrent use.
type Engine struct {
	segments []segment
	fallback string
	reads    tag.Reads // by any segment
}

type segment struct {
	name string
	prg  cel.Program
}

// The variables conditions read besides tag rules'.
const (
	varTags = "tags"
	varTier = "tier"
)

// Compile checks c and compiles its conditions. A waterfall has at least
// one segment; names, the fallback's included, are unique and made of
// letters, digits, '_', '-' and '.', so that an audience expression can
// name them (waterfall:<name>); every When is a boolean CEL expression
// within the cost limit. Compile reports every problem it finds, each
// naming the segment (by position if it has no name) and, for CEL errors,
// the line and column (1-based) in the expression.
func Compile(c Config) (*Engine, error) {
	env, err := tag.Env(cel.Variable(varTags, cel.ListType(cel.StringType)), cel.Variable(varTier, cel.StringType))
	if err != nil {
		return nil, fmt.Errorf("waterfall: build CEL environment: %w", err)
	}
	e := &Engine{fallback: c.Fallback}
	if e.fallback == "" {
		e.fallback = DefaultFallback
	}
	var errs []error
	if len(c.Segments) == 0 {
		errs = append(errs, errors.New("no segments"))
	}
	seen := map[string]bool{}
	for i, s := range c.Segments {
		label := fmt.Sprintf("segment #%d", i+1)
		if s.Name != "" {
			label = fmt.Sprintf("segment %q", s.Name)
		}
		if err := checkName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		} else if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", label))
		}
		seen[s.Name] = true
		if strings.TrimSpace(s.When) == "" {
			errs = append(errs, fmt.Errorf("%s: no when", label))
			continue
		}
		prg, reads, err := tag.CompileWhen(env, s.When, c.CostLimit, label)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.segments = append(e.segments, segment{name: s.Name, prg: prg})
		e.reads = e.reads.Union(reads)
	}
	if err := checkName(e.fallback); err != nil {
		errs = append(errs, fmt.Errorf("fallback %q: %w", e.fallback, err))
	} else if seen[e.fallback] {
		errs = append(errs, fmt.Errorf("fallback %q: also the name of a segment, which would merge the two", e.fallback))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("waterfall: invalid config: %w", errors.Join(errs...))
	}
	return e, nil
}

// MaxNameLen bounds a segment's name, in bytes.
const MaxNameLen = 64

// checkName tells what is wrong with a segment's name, if anything.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("no name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("name longer than %d bytes", MaxNameLen)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_-.", r) {
			return fmt.Errorf("name has %q: use letters, digits, '_', '-' and '.'", r)
		}
	}
	return nil
}

// Names returns the segments' names in order, the fallback last.
func (e *Engine) Names() []string {
	out := make([]string, 0, len(e.segments)+1)
	for _, s := range e.segments {
		out = append(out, s.name)
	}
	return append(out, e.fallback)
}

// Reads is what the conditions read of a profile, besides tags and tier.
func (e *Engine) Reads() tag.Reads { return e.reads }

// Eval returns the segment of in: the name of the first segment whose
// condition holds, or the fallback if none does. A condition that fails on
// in does not hold.
func (e *Engine) Eval(in Input) string {
	act := interpreter.NewHierarchicalActivation(in.Input.Activation(), outcome{tags: in.Tags, tier: in.Tier})
	for _, s := range e.segments {
		if v, _, err := s.prg.Eval(act); err == nil && v == types.True {
			return s.name
		}
	}
	return e.fallback
}

// outcome resolves the variables of the tag rules' outcome.
type outcome struct {
	tags []string
	tier string
}

// ResolveName implements interpreter.Activation.
func (o outcome) ResolveName(name string) (any, bool) {
	switch name {
	case varTags:
		return types.NewStringList(types.DefaultTypeAdapter, o.tags), true
	case varTier:
		return types.String(o.tier), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (outcome) Parent() interpreter.Activation { return nil }
