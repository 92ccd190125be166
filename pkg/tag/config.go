package tag

import (
	"fmt"
	"os"
)

// Rule makes tags: the fixed tag Name while the boolean CEL expression When
// holds or, with Each, every string of the list the CEL expression Each
// returns (dynamic tags such as "bought:category:" + c). A rule has exactly one
// of When and Each; Name identifies it in either case and must be unique.
type Rule struct {
	Name string `yaml:"name"`
	When string `yaml:"when,omitempty"`
	Each string `yaml:"each,omitempty"`
}

// Tier is a member tier reached at a lifetime spend of MinLifetime, a decimal
// in major units of the store currency with at most six fraction digits
// ("1000", "999.99").
type Tier struct {
	Name        string `yaml:"name"`
	MinLifetime string `yaml:"min_lifetime"`
}

// Config is the tag and tier configuration. Its zero value assigns no tags and
// no tier.
type Config struct {
	// Tags are evaluated independently; their tags are merged.
	Tags []Rule `yaml:"tags"`
	// Tiers are in strictly ascending order of MinLifetime.
	Tiers []Tier `yaml:"tiers"`
	// CostLimit caps the CEL cost units one rule may spend on the largest
	// profile, estimated when the rules are compiled, so that a rule over long
	// lists is refused at load rather than stalling the pipeline; 0 means
	// DefaultCostLimit.
	CostLimit uint64 `yaml:"cost_limit,omitempty"`
}

// DefaultCostLimit is the CostLimit of a Config that sets none. It allows a
// rule to compare a thousand viewed products with a thousand bought ones.
const DefaultCostLimit = 1_000_000

// DefaultConfig returns the rules and tiers of the specification: 豪貴客,
// 新貴客 and 小資客 by RFM score, a tag per bought category and per viewed but
// not bought product, and tiers member, silver, gold and platinum at a
// lifetime spend of 0, 1000, 5000 and 20000.
func DefaultConfig() Config {
	return Config{
		Tags: []Rule{
			{Name: "big_spender", When: `m_score == 5`},
			{Name: "new_rich", When: `stage == "N" && m_score >= 4`},
			// Scores are 0 for customers who have not bought; they are not thrifty.
			{Name: "thrifty", When: `m_score > 0 && m_score <= 2 && f_score >= 3`},
			{Name: "bought_category", Each: `bought_categories.map(c, "bought:category:" + c)`},
			{Name: "viewed_not_bought", Each: `viewed_skus.filter(s, !(s in bought_skus)).map(s, "viewed_not_bought:" + s)`},
		},
		Tiers: []Tier{
			{Name: "member", MinLifetime: "0"},
			{Name: "silver", MinLifetime: "1000"},
			{Name: "gold", MinLifetime: "5000"},
			{Name: "platinum", MinLifetime: "20000"},
		},
	}
}

// LoadConfig reads a Config from the YAML file at path. Unknown fields are
// errors, so that a misspelt key does not silently drop a rule. An empty file
// is the zero Config. LoadConfig does not check the rules; Compile does.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load tag config: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("load tag config %s: %w", path, err)
	}
	return c, nil
}

func parseConfig(b []byte) (Config, error) {
	var c Config
	if err := DecodeYAML(b, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}
