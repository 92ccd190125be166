package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/view"
)

// TraitCounts is the answer of GET /v1/traits/{name}/counts.
type TraitCounts struct {
	Trait string `json:"trait"`
	// Customers holding the trait, with any value.
	Customers int64 `json:"customers"`
	// Distinct values held.
	Distinct int `json:"distinct"`
	// Values are the values held by the most customers, most first: limit
	// of them, at most view.MaxTraitValues.
	Values []TraitValueCount `json:"values"`
}

// TraitValueCount is how many customers hold a trait with Value (a string,
// number, boolean, or time as RFC 3339).
type TraitValueCount struct {
	Value     any   `json:"value"`
	Customers int64 `json:"customers"`
}

func (s *Server) getTraitCounts(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if n, ok := event.TraitName(name); !ok || n != name {
		return badf("name: %q is not a trait name: at most %d bytes of a-z, 0-9, _ and .", name, event.MaxTraitName)
	}
	limit := view.MaxTraitValues
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > view.MaxTraitValues {
			return badf("limit must be 1 to %d", view.MaxTraitValues)
		}
		limit = n
	}
	v, _, err := s.view(r.Context())
	if err != nil {
		return err
	}
	c, ok := v.TraitCounts(name, limit)
	if !ok {
		return fmt.Errorf("trait %q: no customer has had it (contact traits such as email are not counted): %w", name, errNotFound)
	}
	out := TraitCounts{Trait: name, Customers: c.Customers, Distinct: c.Distinct, Values: make([]TraitValueCount, len(c.Top))}
	for i, t := range c.Top {
		out.Values[i] = TraitValueCount{Value: t.Value, Customers: t.Customers}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
