package profile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

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
		// Where decoding found the sections is where encoding put them.
		got.orig, got.stored, got.secs = nil, false, r.secs
		if !reflect.DeepEqual(got, r) {
			t.Errorf("decoded %+v\nwant %+v", got, r)
		}
	}
	if empty, err := decodeRecord(nil); err != nil || !reflect.DeepEqual(empty, &record{}) {
		t.Errorf("no value decodes to %+v, %v; want an empty record", empty, err)
	}
}

// encode copies the sections a record's changes left as they were from
// the encoding Redis holds (record.section). Whatever happened to the
// record — events of every kind, joins, redeliveries, several encodes
// before one is written, a read back from Redis — it encodes to what
// encoding every field afresh gives, and what it derives for states and
// summaries (record.derive, record.purchaseDays) is what its fields give.
func TestARecordEncodesAsEncodingEveryFieldAfreshWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 7))
	afresh := func(r *record) []byte {
		saved := r.secs
		r.secs = [numSecs]span{}
		v := r.encode(r.gen)
		r.secs = saved
		return v
	}
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, rng.IntN(n)) }
	randomOp := func() Op {
		switch rng.IntN(6) {
		case 0:
			return Op{Kind: opView, args: []string{pick("sku-", 150), pick("cat-", 20)}}
		case 1:
			return Op{Kind: opCart, args: []string{pick("sku-", 150), fmt.Sprintf("%d|%d", rng.IntN(3), rng.IntN(1e8))}}
		case 2:
			return Op{Kind: opOrder, args: []string{pick("o", 40), fmt.Sprint(rng.IntN(1e8)), "s:" + pick("sku-", 150), "c:" + pick("cat-", 20)}}
		case 3:
			return Op{Kind: opRefund, args: []string{pick("r", 10), fmt.Sprint(rng.IntN(1e7))}}
		case 4:
			return Op{Kind: opTraits, args: []string{"consent.email", fmt.Sprint(rng.IntN(2) == 0)},
				traits: []event.Trait{{Name: pick("trait-", 5), Kind: event.TraitString, Text: pick("v", 9)}}}
		}
		return Op{Kind: opBrowse}
	}
	r := &record{}
	copied := 0 // steps whose published snapshot an outbox could copy
	for step := range 3000 {
		if rng.IntN(5) == 0 { // a change evaluated, as stage records it
			p := &Snapshot{Stage: nes.Stage(pick("S", 3)), Segment: pick("seg", 8), RScore: rng.IntN(6), Tier: pick("tier", 3)}
			for range rng.IntN(6) {
				p.Tags = append(p.Tags, pick("viewed_not_bought:sku-", 150))
			}
			slices.Sort(p.Tags)
			p.Tags = slices.Compact(p.Tags)
			if rng.IntN(3) == 0 {
				p.Waterfall = pick("w", 3)
			}
			r.published = p
			r.changed(secPub)
		}
		if rng.IntN(20) == 0 {
			o := &record{}
			for range 1 + rng.IntN(5) {
				if _, err := o.apply(randomOp(), rng.Int64N(1e6)); err != nil {
					t.Fatal(err)
				}
			}
			r.join(o, pick("anon:", 9))
		} else if _, err := r.apply(randomOp(), rng.Int64N(1e6)); err != nil {
			t.Fatal(err)
		}
		want := afresh(r)
		got := r.encode(r.gen)
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: encoded %x\nwant %x", step, got, want)
		}
		// What states and summaries share is what the fields give now.
		fresh := &record{traits: r.traits, history: r.history, bought: r.bought, viewed: r.viewed, viewedCats: r.viewedCats}
		d, dw := r.derive(), fresh.derive()
		if !reflect.DeepEqual(d.traits, dw.traits) || !reflect.DeepEqual(d.consent, dw.consent) ||
			!slices.Equal(d.boughtSKUs, dw.boughtSKUs) || !slices.Equal(d.boughtCats, dw.boughtCats) ||
			!slices.Equal(d.viewedSKUs, dw.viewedSKUs) || !slices.Equal(d.viewedCats, dw.viewedCats) ||
			r.purchaseDays() != fresh.purchaseDays() {
			t.Fatalf("step %d: derived %+v, days %+v\nwant %+v, days %+v", step, *d, r.purchaseDays(), *dw, fresh.purchaseDays())
		}
		if enc, ok := r.publishedEncoding(); ok {
			copied++
			if want := appendSnapshot(nil, r.published); !bytes.Equal(enc, want) {
				t.Fatalf("step %d: the published snapshot's encoding %x\nwant %x", step, enc, want)
			}
		}
		switch rng.IntN(4) {
		case 0, 1: // written, as a batch's finish does
			r.gen++
			r.written(r.encode(r.gen)[8:])
		case 2: // read back from Redis
			v := r.encode(r.gen)
			back, err := decodeRecord(v)
			if err != nil || !bytes.Equal(back.encode(back.gen), v) {
				t.Fatalf("step %d: read back: %v", step, err)
			}
			r = back
		}
	}
	if copied < 1000 {
		t.Errorf("an outbox could copy the published snapshot at %d steps of 3000, want most", copied)
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

// insert records each order once, however often it comes, in histories
// short enough to be looked through and long enough to be kept in a map,
// across the length where one turns into the other, and in a record read
// back from its encoding (which starts without the map).
func TestARecordInsertsEachOrderOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, scanHistory - 1, scanHistory, scanHistory + 1, 3 * scanHistory} {
		r := &record{}
		seen := map[string]bool{}
		for i := range 4 * n {
			if i == 2*n { // read back: the map, if any, is gone
				var err error
				if r, err = decodeRecord(r.encode(1)); err != nil {
					t.Fatal(err)
				}
			}
			id := fmt.Sprintf("o:%d", rng.IntN(n))
			if got := r.insert(id, int64(rng.IntN(1000)), 100); got == seen[id] {
				t.Fatalf("n %d: insert(%s) = %v, but it was recorded before: %v", n, id, got, seen[id])
			}
			seen[id] = true
			if len(r.history) != len(seen) || r.n != int64(len(seen)) {
				t.Fatalf("n %d: %d entries and %d orders for %d ids", n, len(r.history), r.n, len(seen))
			}
		}
	}
}

// commonPrefix gives the length a byte-by-byte comparison gives, for
// prefixes shorter and longer than the eight bytes it compares at once, and
// for a first difference at several places inside those eight.
func TestCommonPrefixIsTheLengthOfTheLongestCommonPrefix(t *testing.T) {
	words := []string{"", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgx", "abcdefghijklmnopq",
		"abcdefghijklmnopz", "abcxefghijk", "abcdefghijxlmnopq", "viewed_not_bought:SKU-0106", "viewed_not_bought:SKU-0176", "viewed_not_bought:", "bought:category:cat-01"}
	for _, a := range words {
		for _, b := range words {
			want := 0
			for want < len(a) && want < len(b) && a[want] == b[want] {
				want++
			}
			if got := commonPrefix(a, b); got != want {
				t.Errorf("commonPrefix(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// BenchmarkEncodeRecord encodes a large record (100 viewed products and
// categories, 60 bought, 12 orders, 60 tags published), beside copying its
// encoding (copy: the memory's cost of writing as many bytes).
func BenchmarkEncodeRecord(b *testing.B) {
	r := &record{gen: 7, ver: 12, n: 12, has: hasFirst | hasLast | hasCart | hasBrowse, first: 1_700_000_000_000, last: 1_730_000_000_000,
		traits:    []lww{{"consent.email", 5, "true", event.TraitString}, {"email", 4, "c0000001@example.com", event.TraitString}, {"timezone", 4, "Asia/Taipei", event.TraitString}},
		cart:      []lww{{"SKU-0001", 9, "2|5000000", event.TraitString}, {"SKU-0002", 9, "1|15000000", event.TraitString}},
		published: &Snapshot{Stage: nes.Stage("E0"), Segment: "champions", RScore: 5, FScore: 4, MScore: 3, Tier: "gold"},
		entry:     &population.Entry{Version: 12, At: 1_730_000_000_000, F: 4, M: 400_000_000, Last: 1_730_000_000_000},
	}
	for i := range 100 {
		t := int64(1_700_000_000_000 + i*1000)
		r.viewed = append(r.viewed, item{fmt.Sprintf("SKU-%04d", i*7), t})
		r.viewedCats = append(r.viewedCats, item{fmt.Sprintf("cat-%02d", i%40), t})
		if i < 60 {
			r.bought = append(r.bought, item{fmt.Sprintf("s:SKU-%04d", i*3), t})
			r.published.Tags = append(r.published.Tags, fmt.Sprintf("viewed_not_bought:SKU-%04d", i*7))
		}
		if i < 12 {
			r.history = append(r.history, entry{fmt.Sprintf("o:o-run-%d", i), t, 25_000_000})
		}
	}
	r.orig = r.encode(7)[8:] // as read from Redis, which sizes the buffer
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.encode(8)
		}
	})
	b.Run("copy", func(b *testing.B) {
		src := r.encode(8)
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		for b.Loop() {
			_ = append([]byte(nil), src...)
		}
	})
}

// A customer's states are in one part, the part of their first state, so a
// part's changes chain each customer's snapshots; every state is in a part,
// in order; and no part has more than size customers but the last, which
// takes at most size more.
func TestPartsKeepEachCustomersStatesTogether(t *testing.T) {
	for _, size := range []int{1, 3, 32} {
		var states []*State
		for i := range 200 {
			// customers reappear: before and after a merge
			states = append(states, &State{Customer: fmt.Sprint("c", i%70)})
		}
		parts := partsOf(states, size)
		partOf := map[string]int{}
		next := 0
		for k, part := range parts {
			idx := part.idx
			customers := map[string]bool{}
			var order []string // of first appearance
			for j, i := range idx {
				if j > 0 && i <= idx[j-1] {
					t.Fatalf("size %d: part %d out of order: %v", size, k, idx)
				}
				c := states[i].Customer
				if p, ok := partOf[c]; ok && p != k {
					t.Fatalf("size %d: %s in parts %d and %d", size, c, p, k)
				}
				if !customers[c] {
					order = append(order, c)
				}
				partOf[c], customers[c] = k, true
				next++
			}
			if !slices.Equal(part.customers, order) {
				t.Errorf("size %d: part %d's customers %v, want %v", size, k, part.customers, order)
			}
			if limit := size + size*boolInt(k == len(parts)-1); len(customers) > limit {
				t.Errorf("size %d: part %d of %d has %d customers", size, k, len(parts), len(customers))
			}
		}
		if next != len(states) {
			t.Errorf("size %d: %d of %d states in parts", size, next, len(states))
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Changes come out in the order of their states, whatever the parts.
func TestChangesComeOutInTheOrderOfTheirStates(t *testing.T) {
	changes := []Change{{Customer: "a1"}, {Customer: "a2"}, {Customer: "x"}, {Customer: "b"}}
	got := inOrder(changes, []int{0, 33, 32, 40})
	var ids []string
	for _, ch := range got {
		ids = append(ids, ch.Customer)
	}
	if want := []string{"a1", "x", "a2", "b"}; !slices.Equal(ids, want) {
		t.Errorf("changes in order %v, want %v", ids, want)
	}
}

// BenchmarkDecodeRecord measures reading a customer's record as the store
// reads one it has not cached (Redis's reply to the record, decoded), for a
// typical year (5 viewed products and categories, 3 orders, 2 traits, 4
// tags). The baseline is the copy of the reply's bytes every reader makes,
// the hardware's cost of touching them once.
func BenchmarkDecodeRecord(b *testing.B) {
	r := &record{gen: 1, ver: 3, published: &Snapshot{Tags: []string{"bought:category:a", "bought:category:b", "viewed_not_bought:SKU-0001", "viewed_not_bought:SKU-0002"}}}
	for i := range 5 {
		r.viewed = append(r.viewed, item{fmt.Sprintf("SKU-%04d", i), int64(i)})
		r.viewedCats = append(r.viewedCats, item{fmt.Sprintf("cat-%d", i), int64(i)})
	}
	for i := range 3 {
		r.history = append(r.history, entry{fmt.Sprintf("o:order-%d", i), int64(i), 1_000_000})
		r.bought = append(r.bought, item{fmt.Sprintf("SKU-%04d", i+100), int64(i)})
	}
	r.traits = []lww{{"email", 1, "a@example.com", event.TraitString}, {"city", 1, "Taipei", event.TraitString}}
	reply := string(encoded(r))
	var decode, baseline time.Duration
	var sink []byte
	for b.Loop() {
		t0 := time.Now()
		for range 100 {
			if _, err := decodeRecordOf([]byte(reply), reply); err != nil {
				b.Fatal(err)
			}
		}
		decode += time.Since(t0)
		t0 = time.Now()
		for range 100 {
			sink = []byte(reply)
		}
		baseline += time.Since(t0)
	}
	_ = sink
	n := float64(100 * b.N)
	b.ReportMetric(decode.Seconds()*1e9/n, "decode-ns/record")
	b.ReportMetric(baseline.Seconds()*1e9/n, "baseline-copy-ns/record")
	b.ReportMetric(decode.Seconds()/baseline.Seconds(), "ratio-to-copy")
}
