package view

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
)

// Customers come and go in large numbers, with ids long enough that the
// removed ones fill the ids' arena several times over (pkg/ids): through
// it all the view finds exactly the customers a map holds, lists them in
// id order, and takes the rows of the removed again.
func TestIdsStayFoundThroughGrowthRemovalsAndCompaction(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	v := New(nes.Config{}, nil)
	held := map[string]bool{}
	long := strings.Repeat("x", 600)
	idOf := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("%s-%d", long, i) // a length above 127: a longer uvarint
		}
		return fmt.Sprint("c", i)
	}
	for op := range 60_000 {
		id := idOf(r.IntN(8_000))
		if r.IntN(3) == 0 {
			delete(held, id)
			v.Put(profile.Summary{Customer: id, Gone: true})
		} else {
			held[id] = true
			v.Put(randomCustomer(r, id, int64(op)))
		}
		if op%5000 != 0 {
			continue
		}
		if v.Len() != len(held) {
			t.Fatalf("op %d: %d customers, want %d", op, v.Len(), len(held))
		}
		for i := range 8_000 {
			if _, ok := v.ids.Find(idOf(i)); ok != held[idOf(i)] {
				t.Fatalf("op %d: %s found %v, want %v", op, idOf(i), ok, held[idOf(i)])
			}
		}
	}
	if v.ids.Rows() > 8_000 {
		t.Errorf("%d rows for at most 8,000 customers: the rows of the removed are not taken again", v.ids.Rows())
	}
	want := slices.Sorted(maps.Keys(held))
	var got []string
	for _, m := range v.Members(T, nil, nil, "", 0).Members {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%d members listed, want %d in id order", len(got), len(want))
	}
}
