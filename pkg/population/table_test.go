package population

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// A table holds what a map from id to entry holds after any sequence of
// puts and removals: with its hash, and with hashes that give many ids
// the same value (so that ids clash, and a clashing id outlives the one
// whose slot has its hash), with the ids compacted as often as they can
// be.
func TestATableHoldsWhatAMapHolds(t *testing.T) {
	hashes := map[string]func(string) uint64{
		"seeded": newTable().hash,
		"length": func(id string) uint64 { return uint64(len(id)) },
		"last byte mod 3": func(id string) uint64 {
			if id == "" {
				return 0
			}
			return uint64(id[len(id)-1] % 3)
		},
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			for round := range 30 {
				tb := newTable()
				tb.hash = hash
				tb.minDead = 1 << 20 // never in odd rounds, as often as it may in even ones
				if round%2 == 0 {
					tb.minDead = 0
				}
				want := map[string]Entry{}
				n := 1 + rng.IntN(200)
				for i := range 4 * n {
					id := fmt.Sprintf("c%d", rng.IntN(n))
					if rng.IntN(3) == 0 {
						id = "" // the empty id is an id too
						if rng.IntN(2) == 0 {
							id = fmt.Sprintf("customer-%x", rng.IntN(n))
						}
					}
					switch rng.IntN(3) {
					case 0:
						tb.remove(id)
						delete(want, id)
					default:
						e := Entry{Version: int64(i), At: int64(round), F: rng.IntN(5), M: rng.Int64N(1e9), Last: rng.Int64N(1e12)}
						tb.put(id, e)
						want[id] = e
					}
					if tb.len() != len(want) {
						t.Fatalf("round %d op %d: %d ids, want %d", round, i, tb.len(), len(want))
					}
				}
				for id, e := range want {
					if got, ok := tb.get(id); !ok || got != e {
						t.Fatalf("round %d: %q holds %+v %v, want %+v", round, id, got, ok, e)
					}
				}
				for i := range n {
					id := fmt.Sprintf("c%d", i)
					if _, ok := want[id]; ok {
						continue
					}
					if got, ok := tb.get(id); ok {
						t.Fatalf("round %d: %q removed or never put holds %+v", round, id, got)
					}
				}
				live := 0
				for i := range tb.slots {
					if s := &tb.slots[i]; s.at != freeSlot {
						lo, hi := s.span()
						live += hi - lo
					}
				}
				if len(tb.ids)-tb.dead != live {
					t.Fatalf("round %d: %d bytes of ids, %d dead, but slots hold %d", round, len(tb.ids), tb.dead, live)
				}
			}
		})
	}
}

// An id longer than a slot can hold is held too.
func TestATableHoldsAnIdTooLongForASlot(t *testing.T) {
	tb := newTable()
	long := strings.Repeat("x", maxIDLen+1)
	e := Entry{Version: 1, F: 2}
	tb.put("a", Entry{Version: 3})
	tb.put(long, e)
	if got, ok := tb.get(long); !ok || got != e || tb.len() != 2 {
		t.Fatalf("the long id holds %+v %v among %d, want %+v among 2", got, ok, tb.len(), e)
	}
	if got, ok := tb.get(long[1:]); ok {
		t.Fatalf("an id one byte shorter holds %+v", got)
	}
	tb.remove(long)
	if _, ok := tb.get(long); ok || tb.len() != 1 {
		t.Fatalf("the long id is still held, or the other is not (%d)", tb.len())
	}
}
