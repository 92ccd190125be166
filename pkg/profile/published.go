package profile

import "context"

// Published returns the snapshots last published of customers, as Commit
// recorded them, by customer. Customers without a published snapshot are left
// out. A rebuild of what was published (the segment index of a namespace)
// reads them.
func (s *Store) Published(ctx context.Context, customers []string) (map[string]Snapshot, error) {
	recs, err := s.fetch(ctx, customers)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Snapshot, len(customers))
	for i, r := range recs {
		if r.published != nil {
			out[customers[i]] = *r.published
		}
	}
	return out, nil
}
