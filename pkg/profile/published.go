package profile

import (
	"context"

	"github.com/segflow/segflow/pkg/nes"
)

// Published returns the snapshots last published of customers, as Commit
// recorded them (a batch not yet committed has not published its own), by
// customer. Customers without a published snapshot are left out. A rebuild
// of what was published (the segment index of a namespace) reads them.
func (s *Store) Published(ctx context.Context, customers []string) (map[string]Snapshot, error) {
	recs, err := s.fetch(ctx, customers)
	if err != nil {
		return nil, err
	}
	if err := s.resolve(ctx, customers, recs); err != nil {
		return nil, err
	}
	none := Snapshot{Stage: nes.Prospect}
	out := make(map[string]Snapshot, len(customers))
	for i, r := range recs {
		if p := r.lastPublished(); r.published != nil && !(r.open && p.same(none) && p.RScore == 0) {
			out[customers[i]] = p
		}
	}
	return out, nil
}
