package waterfall

import (
	"fmt"
	"os"

	"github.com/segflow/segflow/pkg/tag"
)

// Segment is one step of the waterfall: customers not in an earlier
// segment are in this one while the boolean CEL expression When holds.
type Segment struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
}

// Config is a waterfall: its segments, in order, and the segment of
// customers in none of them.
type Config struct {
	// Segments are tried in order; a customer is in the first that holds.
	Segments []Segment `yaml:"segments"`
	// Fallback names the segment of customers in none of Segments; ""
	// means DefaultFallback.
	Fallback string `yaml:"fallback,omitempty"`
	// CostLimit caps the CEL cost one condition may spend on the largest
	// profile, as tag.Config.CostLimit does; 0 means tag.DefaultCostLimit.
	CostLimit uint64 `yaml:"cost_limit,omitempty"`
}

// DefaultFallback is the Fallback of a Config that sets none.
const DefaultFallback = "other"

// LoadConfig reads a Config from the YAML file at path. Unknown fields are
// errors, so that a misspelt key does not silently drop a condition.
// LoadConfig does not check the segments; Compile does.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load waterfall: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("load waterfall %s: %w", path, err)
	}
	return c, nil
}

func parseConfig(b []byte) (Config, error) {
	var c Config
	if err := tag.DecodeYAML(b, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}
