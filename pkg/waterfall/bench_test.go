package waterfall

import (
	"path/filepath"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/segflow/segflow/pkg/tag"
)

// BenchmarkEval evaluates the example waterfall (deploy/waterfall.yaml,
// eight segments) for a customer who matches none of them, so that every
// condition runs: "waterfall" is Eval; "cel" is the baseline, the same
// conditions compiled in the same environment and evaluated in order by
// cel-go with its standard activation, a map of the same values.
func BenchmarkEval(b *testing.B) {
	c, err := LoadConfig(filepath.Join("..", "..", "deploy", "waterfall.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	e := mustCompile(b, c)
	in := Input{Input: tag.Input{
		Stage: "prospect", Traits: map[string]any{"city": "Taipei", "email": "x"},
		BoughtCategories: []string{"coffee", "tea"}, ViewedSKUs: []string{"a", "b", "c"},
	}, Tags: []string{"bought:category:coffee", "bought:category:tea"}}
	if got := e.Eval(in); got != "prospects" {
		b.Fatalf("Eval = %q, want prospects", got)
	}
	b.Run("waterfall", func(b *testing.B) {
		for b.Loop() {
			e.Eval(in)
		}
	})
	b.Run("cel", func(b *testing.B) {
		env, err := tag.Env(cel.Variable(varTags, cel.ListType(cel.StringType)), cel.Variable(varTier, cel.StringType))
		if err != nil {
			b.Fatal(err)
		}
		var prgs []cel.Program
		for _, s := range c.Segments {
			ast, iss := env.Compile(s.When)
			if iss.Err() != nil {
				b.Fatal(iss.Err())
			}
			prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
			if err != nil {
				b.Fatal(err)
			}
			prgs = append(prgs, prg)
		}
		for b.Loop() {
			vars := map[string]any{
				"stage": in.Stage, "r": in.R, "f": in.F, "m": float64(in.M) / 1e6,
				"r_score": in.RScore, "f_score": in.FScore, "m_score": in.MScore, "segment": in.Segment,
				"orders": in.Orders, "lifetime": float64(in.Lifetime) / 1e6, "cart_value": float64(in.CartValue) / 1e6,
				"bought_skus": in.BoughtSKUs, "bought_categories": in.BoughtCategories,
				"viewed_skus": in.ViewedSKUs, "viewed_categories": in.ViewedCategories,
				"traits": in.Traits, "consent": in.Consent, "tags": in.Tags, "tier": in.Tier,
			}
			for _, prg := range prgs {
				if v, _, err := prg.Eval(vars); err == nil && v == types.True {
					break
				}
			}
		}
	})
}
