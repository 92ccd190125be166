package ids

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// A table holds what a map from id to row holds after any sequence of adds
// and removals: with its seeded hash, and with hashes narrowed so that most
// ids share one (long probe runs, which removals shift back); with the
// empty id and ids whose length takes a longer uvarint; through growth
// and compactions of the arena. Rows are given
// once at a time, and a removed id's row is given again.
func TestATableHoldsWhatAMapHolds(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, narrow := range []uint{0, 1, 3} {
		t.Run(fmt.Sprintf("narrow=%d", narrow), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(narrow)))
			compactions := 0
			for round := range 20 {
				tb := &Table{narrow: narrow, minGarbage: 1 + round%3*1000}
				want := map[string]int32{}
				byRow := map[int32]string{}
				n := 1 + rng.IntN(3000)
				if narrow > 0 { // every lookup probes most ids
					n = 1 + rng.IntN(300)
				}
				idOf := func(i int) string {
					if i == 0 {
						return ""
					}
					if i%3 == 0 {
						return fmt.Sprintf("%s-%d", long, i)
					}
					return fmt.Sprint("c", i)
				}
				for op := range 4 * n {
					id := idOf(rng.IntN(n))
					row, held := want[id]
					if got, ok := tb.Find(id); ok != held || ok && got != row {
						t.Fatalf("round %d op %d: %.20q found at %d %v, want %d %v", round, op, id, got, ok, row, held)
					}
					switch {
					case held && rng.IntN(2) == 0:
						garbage := tb.garbage
						tb.Remove(row)
						delete(want, id)
						delete(byRow, row)
						if tb.garbage < garbage {
							compactions++
						}
					case !held:
						free := slices.Clone(tb.free)
						row := tb.Add(id)
						if k := len(free); k > 0 && row != free[k-1] || k == 0 && int(row) != tb.Rows()-1 {
							t.Fatalf("round %d op %d: row %d given, free rows %v of %d", round, op, row, free, tb.Rows())
						}
						if other, taken := byRow[row]; taken {
							t.Fatalf("round %d op %d: row %d given to %.20q holds %.20q", round, op, row, id, other)
						}
						want[id], byRow[row] = row, id
					}
					if tb.Len() != len(want) {
						t.Fatalf("round %d op %d: %d ids, want %d", round, op, tb.Len(), len(want))
					}
				}
				for id, row := range want {
					if got, ok := tb.Find(id); !ok || got != row || string(tb.ID(row)) != id {
						t.Fatalf("round %d: %.20q at %d %v (id %.20q), want %d", round, id, got, ok, tb.ID(got), row)
					}
				}
				for i := range n {
					if _, held := want[idOf(i)]; !held {
						if row, ok := tb.Find(idOf(i)); ok {
							t.Fatalf("round %d: %.20q, removed or never added, found at %d", round, idOf(i), row)
						}
					}
				}
				live := 0
				for id := range want {
					live += len(id) + uvarintLen(len(id))
				}
				if tb.live != live {
					t.Fatalf("round %d: %d bytes of ids counted live, want %d", round, tb.live, live)
				}
			}
			if compactions == 0 {
				t.Error("the arena was never compacted")
			}
		})
	}
}

// Compare orders rows as their ids' bytes.
func TestRowsCompareAsTheirIds(t *testing.T) {
	var tb Table
	ids := []string{"b", "", "a", "ab", "\xff", "a\x00"}
	rows := make([]int32, len(ids))
	for i, id := range ids {
		rows[i] = tb.Add(id)
	}
	for i := range ids {
		for j := range ids {
			if got, want := tb.Compare(rows[i], rows[j]), strings.Compare(ids[i], ids[j]); got != want {
				t.Errorf("Compare(%q, %q) = %d, want %d", ids[i], ids[j], got, want)
			}
		}
	}
}

// An empty table finds nothing, the empty id included.
func TestAnEmptyTableFindsNothing(t *testing.T) {
	var tb Table
	if row, ok := tb.Find(""); ok {
		t.Fatalf("found the empty id at %d", row)
	}
	tb.Remove(tb.Add("a"))
	if row, ok := tb.Find("a"); ok || tb.Len() != 0 {
		t.Fatalf("a removed id found at %d (%v), %d held", row, ok, tb.Len())
	}
}

// An id longer than a chunk of the arena has a chunk of its own, and the
// ids after it are found as before.
func TestAnIdLongerThanAChunkIsHeld(t *testing.T) {
	tb := &Table{minGarbage: 1}
	huge := strings.Repeat("y", arenaSize+1)
	a := tb.Add("a")
	h := tb.Add(huge)
	b := tb.Add("b")
	for id, row := range map[string]int32{"a": a, huge: h, "b": b} {
		if got, ok := tb.Find(id); !ok || got != row || string(tb.ID(row)) != id {
			t.Fatalf("%.10q found at %d %v, want %d", id, got, ok, row)
		}
	}
	if _, ok := tb.Find(huge[1:]); ok {
		t.Fatal("an id one byte shorter is found")
	}
	tb.Remove(h) // and compacted: the garbage is more than what is held
	if _, ok := tb.Find(huge); ok || tb.garbage != 0 || len(tb.arena) != 1 {
		t.Fatalf("the long id is still held, or the arena was not compacted (%d garbage, %d chunks)", tb.garbage, len(tb.arena))
	}
	if got, ok := tb.Find("b"); !ok || got != b {
		t.Fatalf("b found at %d %v after the compaction, want %d", got, ok, b)
	}
}
