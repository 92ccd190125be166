package profile

import (
	"reflect"
	"testing"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
)

func encoded(r *record) []byte {
	return r.encode(r.gen)
}

func TestARecordDecodesToWhatWasEncoded(t *testing.T) {
	r := &record{gen: 7, ver: 3, n: 2, has: hasFirst | hasLast | hasCart, first: -5, last: 1 << 40, lastCart: 12,
		ltvHi: -1, ltvLo: 999_999_999, mergedInto: "", merged: []string{"anon:a", "anon:b"},
		traits:  []lww{{"age", 6, "21", event.TraitNumber}, {"consent.email", 5, "true", event.TraitString}, {"email", 4, "a@b", event.TraitString}},
		cart:    []lww{{"sku-1", 9, "2|5000000", event.TraitString}},
		history: []entry{{"o:1", 10, 25_000_000}, {"r:e9", 11, -3}},
		viewed:  []item{{"s", 1}}, viewedCats: []item{{"c", 2}}, bought: []item{{"s:x", 3}, {"c:y", 3}},
		published: &Snapshot{Stage: nes.Stage("E0"), Segment: "x", RScore: 5, FScore: 1, MScore: 3, Tier: "gold", Tags: []string{"bought:category:cat-01", "bought:category:cat-13", "new_rich", "viewed_not_bought:SKU-0106", "viewed_not_bought:SKU-0176"}},
		entry:     &population.Entry{Version: 3, At: 99, F: 2, M: 1, Last: -7},
	}
	for _, waterfall := range []string{"", "win_back"} {
		r.published.Waterfall = waterfall
		got, err := decodeRecord(encoded(r))
		if err != nil {
			t.Fatal(err)
		}
		got.orig, got.stored = nil, false
		if !reflect.DeepEqual(got, r) {
			t.Errorf("decoded %+v\nwant %+v", got, r)
		}
	}
	if empty, err := decodeRecord(nil); err != nil || !reflect.DeepEqual(empty, &record{}) {
		t.Errorf("no value decodes to %+v, %v; want an empty record", empty, err)
	}
}

// Whatever a key holds, decoding returns a record or an error, and a record
// encodes back to one that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encoded(&record{gen: 1, ver: 1, history: []entry{{"o:1", 1, 1}}, published: &Snapshot{Tags: []string{"t"}}}))
	f.Add(encoded(&record{gen: 2, traits: []lww{{"age", 1, "21", event.TraitNumber}, {"city", 1, "Taipei", event.TraitString}}}))
	f.Add(encoded(&record{gen: 1, ver: 1, published: &Snapshot{Tags: []string{"t"}, Waterfall: "w"}}))
	f.Add([]byte("not a record"))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, recordFormat, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRecord(v)
		if err != nil {
			return
		}
		again, err := decodeRecord(encoded(r))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again.encode(0), r.encode(0)) {
			t.Fatalf("re-encoded record differs")
		}
	})
}
