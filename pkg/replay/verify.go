package replay

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/profile"
)

// Difference is one field of one customer's profile that differs between two
// namespaces.
type Difference struct {
	Customer string
	Field    string
	A, B     string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s %s: %s != %s", d.Customer, d.Field, d.A, d.B)
}

// Compare reads every customer of either store as of T and returns the
// fields that differ, customer by customer, and how many customers it
// compared. A customer missing from one store compares as a prospect with no
// history.
func Compare(ctx context.Context, a, b *profile.Store, T time.Time) ([]Difference, int, error) {
	seen := map[string]bool{}
	for _, s := range []*profile.Store{a, b} {
		err := s.Customers(ctx, func(cs []string) error {
			for _, c := range cs {
				seen[c] = true
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("list the customers of %s: %w", s.Prefix(), err)
		}
	}
	customers := slices.Sorted(maps.Keys(seen))
	var diffs []Difference
	const chunk = 500
	for i := 0; i < len(customers); i += chunk {
		cs := customers[i:min(i+chunk, len(customers))]
		pa, err := a.Get(ctx, T, cs)
		if err != nil {
			return nil, 0, fmt.Errorf("read profiles of %s: %w", a.Prefix(), err)
		}
		pb, err := b.Get(ctx, T, cs)
		if err != nil {
			return nil, 0, fmt.Errorf("read profiles of %s: %w", b.Prefix(), err)
		}
		for j, c := range cs {
			fa, fb := Fields(pa[j]), Fields(pb[j])
			for _, f := range fieldNames {
				if fa[f] != fb[f] {
					diffs = append(diffs, Difference{Customer: c, Field: f, A: fa[f], B: fb[f]})
				}
			}
		}
	}
	return diffs, len(customers), nil
}

// fieldNames are the fields of a profile Compare compares, in report order.
var fieldNames = []string{
	"orders", "first", "last", "lifetime", "r", "f", "m", "r_score", "f_score", "m_score",
	"segment", "stage", "tier", "tags", "waterfall", "cycle", "cart_value", "cart_items", "last_cart", "traits", "consent",
}

// Fields prints the fields of a profile that a rebuild must reproduce.
func Fields(p profile.Profile) map[string]string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	kv := func(m map[string]any) string {
		keys := slices.Sorted(maps.Keys(m))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, m[k])
		}
		return strings.Join(parts, ",")
	}
	consent := map[string]any{}
	for k, v := range p.Consent {
		consent[k] = v
	}
	tags := slices.Clone(p.Tags)
	sort.Strings(tags)
	return map[string]string{
		"orders": fmt.Sprint(p.Orders), "first": ts(p.First), "last": ts(p.Last), "lifetime": fmt.Sprint(p.Lifetime),
		"r": fmt.Sprint(p.Values.R), "f": fmt.Sprint(p.Values.F), "m": fmt.Sprint(p.Values.M),
		"r_score": fmt.Sprint(p.RScore), "f_score": fmt.Sprint(p.FScore), "m_score": fmt.Sprint(p.MScore),
		"segment": p.Segment, "stage": string(p.Stage), "tier": p.Tier, "tags": strings.Join(tags, ","), "waterfall": p.Waterfall,
		"cycle": p.Cycle.String(), "cart_value": fmt.Sprint(p.CartValue), "cart_items": fmt.Sprint(p.CartItems),
		"last_cart": ts(p.LastCart), "traits": kv(p.Traits), "consent": kv(consent),
	}
}
