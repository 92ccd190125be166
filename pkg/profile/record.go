package profile

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/tag"
)

// A record is a customer's whole profile state, kept in Redis as one string
// (encode, decodeRecord) and changed in Go by joins (apply, join): the same
// writes the store has always made, now on one value instead of eight keys.
type record struct {
	// gen counts the record's writes: a write succeeds only if the stored
	// record is still of the generation it was read at (casScript).
	gen    uint64
	stored bool   // Redis holds the record (of generation gen)
	orig   []byte // its encoded body as Redis holds it (encode(gen)[8:])
	// secs are where sections of the encoding are in orig, for encode to
	// copy while they have not changed (see section); nextSecs are where
	// the last encode put them, which become secs once it is written.
	secs, nextSecs [numSecs]span

	ver                  int64 // history inserts: orders and refunds recorded
	n                    int64 // orders
	has                  uint8 // which of the times below are set (has* bits)
	first, last          int64 // ms
	lastBrowse, lastCart int64
	cartClear            int64
	ltvHi, ltvLo         int64 // lifetime spend = ltvHi × 10^9 + ltvLo micros (money.JoinLimbs)
	mergedInto           string
	merged               []string // profiles merged into this one, sorted
	traits               []lww    // "a:<name>" registers, by name
	history              []entry  // orders "o:<id>" and refunds "r:<id>", by (time, id)
	viewed, viewedCats   []item   // by (time, member), newest last
	bought               []item   // "s:<sku>" / "c:<category>"
	cart                 []lww    // sku -> "<quantity>|<unit price micros>", by sku
	// published is the snapshot last evaluated as a change, and pend the
	// batch that wrote it (zero: none); until that batch is known
	// committed, the snapshot last published is prev (pending.go).
	published *Snapshot
	pend      pendMark
	entry     *population.Entry
	// open: pend is not known committed, and prev is the snapshot last
	// published (not encoded: resolve finds them for a record read)
	open bool
	prev Snapshot

	ids map[string]bool // history ids, built on first use by a long history (recorded)

	// memo keeps the outcomes of the tag rules at the customer's last
	// evaluation, so that the next evaluates only the rules whose inputs
	// changed (not encoded: a record read from Redis starts without).
	memo tag.Memo
	// derived is what states and summaries take from the traits, orders
	// and products bought, built on first use and kept until those change
	// (changed).
	derived derived
	// timer is the customer's timer as this writer last wrote it (not
	// encoded: a record read from Redis starts without), so that a batch
	// that leaves it as it is writes it no more.
	timer timerWritten
}

// derived is what a record's states and summaries share of its traits,
// orders and products bought and viewed, which most events leave as they
// were (a view changes only what was viewed; a cart line none of them):
// the maps of traits and consent, the purchase days, and the lists of skus
// and categories bought and viewed. States only read them.
type derived struct {
	regs       bool // traits and consent are built
	traits     map[string]any
	consent    map[string]bool
	hist       bool         // days is built
	days       predict.Days // of every order (record.days)
	bought     bool         // boughtSKUs and boughtCats are built
	boughtSKUs []string
	boughtCats []string
	views      bool // viewedSKUs and viewedCats are built
	viewedSKUs []string
	viewedCats []string
}

// timerWritten is a customer's timer as a writer last wrote it.
type timerWritten struct {
	known bool  // written by this writer since the record was read
	set   bool  // a timer (else none: removed)
	due   int64 // ms, if set
}

// Sections of a record's encoding that encode copies from orig, the
// encoding Redis holds, while they have not changed: most events leave most
// of a record as it was (a view changes the views, the tags and a time; not
// the traits, the cart, the orders or the products bought), and copying
// the bytes of a section is several times cheaper than encoding its
// strings again, which are spread over the heap. Whatever changes a
// section's fields marks it changed (changed).
const (
	secRegs   = iota // the traits, the cart and the history, in that order
	secBought        // the products and categories bought
	// secPub is the snapshot last evaluated (published, without the mark
	// before it), which a batch's outbox copies while it is the snapshot
	// last published (publishedEncoding); encode never copies it.
	secPub
	numSecs
)

// span is where a section is in orig; ok: it is there as the record's
// fields would encode it now.
type span struct {
	lo, hi int
	ok     bool
}

// changed marks sections as no longer what orig holds, and what derived
// holds of the products bought if secBought; secRegs is marked by
// changedRegs.
func (r *record) changed(secs ...int) {
	for _, k := range secs {
		r.secs[k].ok = false
		if k == secBought {
			r.derived.bought = false
		}
	}
}

// changedRegs marks secRegs as no longer what orig holds, and what derived
// holds of the traits and consent if traits changed, of the orders (the
// purchase days) if history did: a cart line changes neither.
func (r *record) changedRegs(traits, history bool) {
	r.secs[secRegs].ok = false
	if traits {
		r.derived.regs = false
	}
	if history {
		r.derived.hist = false
	}
}

// written makes encoded, the body of the record's last encode, what Redis
// holds.
func (r *record) written(encoded []byte) {
	r.orig, r.secs = encoded, r.nextSecs
}

const (
	hasFirst = 1 << iota
	hasLast
	hasBrowse
	hasCart
	hasCartClear
)

// Bounds of the lists (as the store has always trimmed them).
const (
	keepViewed = 100
	keepBought = 200
)

// lww is a last-writer-wins register: the value with the latest time wins,
// and of two with the same time the larger value, so the outcome does not
// depend on arrival order.
type lww struct {
	name  string
	t     int64
	value string
	kind  event.TraitKind // of a trait's value (setTrait)
}

// wins tells whether (t, value) replaces the register's current content.
func (r lww) losesTo(t int64, value string) bool {
	if r.t != t {
		return t > r.t
	}
	return value > r.value
}

type entry struct {
	id  string
	t   int64
	amt int64 // micros
}

type item struct {
	member string
	t      int64
}

func (r *record) setMax(bit uint8, field *int64, t int64) {
	if r.has&bit == 0 || t > *field {
		*field = t
		r.has |= bit
	}
}

func (r *record) setMin(bit uint8, field *int64, t int64) {
	if r.has&bit == 0 || t < *field {
		*field = t
		r.has |= bit
	}
}

// setLWW writes (t, value) to the register name of regs unless it loses.
func setLWW(regs []lww, name string, t int64, value string) []lww {
	i, ok := slices.BinarySearchFunc(regs, name, func(r lww, name string) int { return strings.Compare(r.name, name) })
	if ok {
		if regs[i].losesTo(t, value) {
			regs[i].t, regs[i].value = t, value
		}
		return regs
	}
	return slices.Insert(regs, i, lww{name: name, t: t, value: value})
}

// addGT sets member's time in items to t if it is later (or the member is
// new), keeps items ordered by (time, member) and the newest keep of them.
func addGT(items []item, member string, t int64, keep int) []item {
	for i, it := range items {
		if it.member == member {
			if t <= it.t {
				return items
			}
			items = slices.Delete(items, i, i+1)
			break
		}
	}
	i, _ := slices.BinarySearchFunc(items, item{member, t}, cmpItem)
	items = slices.Insert(items, i, item{member, t})
	if len(items) > keep {
		items = slices.Delete(items, 0, len(items)-keep)
	}
	return items
}

func cmpItem(a, b item) int {
	if a.t != b.t {
		return cmpInt(a.t, b.t)
	}
	return strings.Compare(a.member, b.member)
}

func cmpEntry(a, b entry) int {
	if a.t != b.t {
		return cmpInt(a.t, b.t)
	}
	return strings.Compare(a.id, b.id)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanHistory is the longest history whose ids insert looks through
// rather than keep in a map (ids): most customers have a few orders, and a
// map of a few ids costs a cached record about 250 bytes of heap
// (BenchmarkMemoryPerCustomer) for a lookup no faster than the scan.
const scanHistory = 16

// recorded tells whether the history holds id.
func (r *record) recorded(id string) bool {
	if r.ids == nil && len(r.history) <= scanHistory {
		return slices.ContainsFunc(r.history, func(e entry) bool { return e.id == id })
	}
	if r.ids == nil {
		r.ids = make(map[string]bool, len(r.history))
		for _, e := range r.history {
			r.ids[e.id] = true
		}
	}
	return r.ids[id]
}

// insert records an order ("o:<id>") or refund ("r:<id>") unless present,
// and moves the counters only then; it tells whether it did.
func (r *record) insert(id string, t, amt int64) bool {
	if r.recorded(id) {
		return false
	}
	if r.ids != nil {
		r.ids[id] = true
	}
	r.changedRegs(false, true)
	i, _ := slices.BinarySearchFunc(r.history, entry{id: id, t: t}, cmpEntry)
	r.history = slices.Insert(r.history, i, entry{id: id, t: t, amt: amt})
	r.ver++
	hi, lo := money.Limbs(money.Micros(amt))
	if strings.HasPrefix(id, "o:") {
		r.n++
		r.ltvHi, r.ltvLo = r.ltvHi+hi, r.ltvLo+lo
		r.setMin(hasFirst, &r.first, t)
		r.setMax(hasLast, &r.last, t)
		r.setMax(hasCartClear, &r.cartClear, t)
	} else {
		r.ltvHi, r.ltvLo = r.ltvHi-hi, r.ltvLo-lo
	}
	return true
}

// apply applies op at event time t and tells whether it changed the state
// that evaluations read (a browse only moves the last browse).
func (r *record) apply(op Op, t int64) (bool, error) {
	a := op.args
	switch op.Kind {
	case opOrder, opRefund:
		if len(a) < 2 {
			return false, fmt.Errorf("%s: %d arguments", op.Kind, len(a))
		}
		amt, err := strconv.ParseInt(a[1], 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s amount: %w", op.Kind, err)
		}
		prefix := "o:"
		if op.Kind == opRefund {
			prefix = "r:"
		}
		if !r.insert(prefix+a[0], t, amt) {
			return false, nil
		}
		r.changed(secBought)
		for _, it := range a[2:] {
			r.bought = addGT(r.bought, it, t, keepBought)
		}
		return true, nil
	case opView:
		r.setMax(hasBrowse, &r.lastBrowse, t)
		r.derived.views = false
		if len(a) > 0 && a[0] != "" {
			r.viewed = addGT(r.viewed, a[0], t, keepViewed)
		}
		if len(a) > 1 && a[1] != "" {
			r.viewedCats = addGT(r.viewedCats, a[1], t, keepViewed)
		}
		return true, nil
	case opBrowse:
		r.setMax(hasBrowse, &r.lastBrowse, t)
		return false, nil
	case opCart:
		r.setMax(hasCart, &r.lastCart, t)
		r.changedRegs(false, false)
		for i := 0; i+1 < len(a); i += 2 {
			r.cart = setLWW(r.cart, a[i], t, a[i+1])
		}
		return true, nil
	case opTraits:
		r.changedRegs(true, false)
		for i := 0; i+1 < len(a); i += 2 {
			r.traits = setLWW(r.traits, a[i], t, a[i+1])
		}
		for _, x := range op.traits {
			r.traits = setTrait(r.traits, lww{name: x.Name, t: t, value: x.Text, kind: x.Kind})
		}
		return true, nil
	case opNone:
		return false, nil
	}
	return false, fmt.Errorf("unknown op %q", op.Kind)
}

// join merges o, another customer's profile, into r: every order and refund
// o recorded, its lists, cart, traits and activity times, each by its join.
func (r *record) join(o *record, oid string) {
	r.changedRegs(true, true)
	r.changed(secBought)
	for _, e := range o.history {
		r.insert(e.id, e.t, e.amt)
	}
	r.derived.views = false
	for _, it := range o.viewed {
		r.viewed = addGT(r.viewed, it.member, it.t, keepViewed)
	}
	for _, it := range o.viewedCats {
		r.viewedCats = addGT(r.viewedCats, it.member, it.t, keepViewed)
	}
	for _, it := range o.bought {
		r.bought = addGT(r.bought, it.member, it.t, keepBought)
	}
	for _, c := range o.cart {
		r.cart = setLWW(r.cart, c.name, c.t, c.value)
	}
	for _, a := range o.traits {
		r.traits = setTrait(r.traits, a)
	}
	if o.has&hasBrowse != 0 {
		r.setMax(hasBrowse, &r.lastBrowse, o.lastBrowse)
	}
	if o.has&hasCart != 0 {
		r.setMax(hasCart, &r.lastCart, o.lastCart)
	}
	if o.has&hasCartClear != 0 {
		r.setMax(hasCartClear, &r.cartClear, o.cartClear)
	}
	if i, ok := slices.BinarySearch(r.merged, oid); !ok {
		r.merged = slices.Insert(r.merged, i, oid)
	}
}

// window returns F and M (micros, not below 0 and capped) in (T−W, T], and
// when they next change by time alone: the first entry after T, or the
// earliest entry in the window leaving it; zero if never.
func (r *record) window(T, W int64) (f int, m int64, due int64) {
	var diff money.Sum // orders minus refunds
	due = -1
	first := -1
	for i, e := range r.history {
		if e.t <= T-W {
			continue
		}
		if e.t > T {
			if due < 0 || e.t < due {
				due = e.t
			}
			break
		}
		if first < 0 {
			first = i
		}
		if strings.HasPrefix(e.id, "o:") {
			f++
			diff = diff.Add(money.Micros(e.amt))
		} else {
			diff = diff.Sub(money.Micros(e.amt))
		}
	}
	if first >= 0 {
		if leaves := r.history[first].t + W; due < 0 || leaves < due {
			due = leaves
		}
	}
	return f, int64(diff.Cap()), due
}

// purchases returns the orders ever, the first and last purchase, and
// lifetime spend (micros, from 0 to money.MaxSum).
func (r *record) purchases() (orders int, first, last time.Time, lifetime int64) {
	if r.has&hasFirst != 0 {
		first = time.UnixMilli(r.first).UTC()
	}
	if r.has&hasLast != 0 {
		last = time.UnixMilli(r.last).UTC()
	}
	return int(r.n), first, last, int64(money.JoinLimbs(r.ltvHi, r.ltvLo).Cap())
}

// state is the customer's State as of T, window W.
func (r *record) state(c string, T, W int64) *State {
	st := &State{Customer: c, MergedInto: r.mergedInto, Version: r.ver, memo: &r.memo}
	st.Orders, st.First, st.Last, st.Lifetime = r.purchases()
	f, m, due := r.window(T, W)
	st.Values.F, st.Values.M = f, m
	if due >= 0 {
		st.Due = time.UnixMilli(due).UTC()
	}
	if r.has&hasBrowse != 0 {
		st.LastBrowse = time.UnixMilli(r.lastBrowse).UTC()
	}
	if r.has&hasCart != 0 {
		st.LastCart = time.UnixMilli(r.lastCart).UTC()
	}
	if st.Orders > 0 {
		st.Values.R = int(max(T-st.Last.UnixMilli(), 0) / int64(24*time.Hour/time.Millisecond))
	}
	d := r.derive()
	st.Traits, st.Consent, st.Bought, st.BoughtCats = d.traits, d.consent, d.boughtSKUs, d.boughtCats
	st.Viewed, st.ViewedCats = d.viewedSKUs, d.viewedCats
	st.published = r.lastPublished()
	var cart money.Sum
	for _, c := range r.cart {
		qty, price, ok := strings.Cut(c.value, "|")
		if !ok || c.t <= r.cartClear && r.has&hasCartClear != 0 {
			continue
		}
		q, _ := strconv.ParseInt(qty, 10, 64)
		p, _ := strconv.ParseInt(price, 10, 64)
		if q > 0 {
			st.CartItems++
			cart = cart.Plus(money.Product(money.Micros(p), q))
		}
	}
	st.CartValue = int64(cart.Cap())
	return st
}

// purchaseDays is r.days of every order, kept in r.derived while the
// orders do not change.
func (r *record) purchaseDays() predict.Days {
	if d := &r.derived; !d.hist {
		d.days, d.hist = r.days(math.MaxInt64), true
	}
	return r.derived.days
}

// derive returns r.derived, building what its traits or products bought
// changed since.
func (r *record) derive() *derived {
	d := &r.derived
	if !d.regs {
		d.traits, d.consent = make(map[string]any, len(r.traits)), map[string]bool{}
		for _, a := range r.traits {
			if ch, ok := strings.CutPrefix(a.name, "consent."); ok {
				d.consent[ch] = a.value == "true"
			} else {
				d.traits[a.name] = event.Trait{Name: a.name, Kind: a.kind, Text: a.value}.Value()
			}
		}
		d.regs = true
	}
	if !d.bought {
		// One allocation: the skus from its start, the categories after.
		cats := 0
		for _, it := range r.bought {
			if strings.HasPrefix(it.member, "c:") {
				cats++
			}
		}
		lists := make([]string, len(r.bought))
		d.boughtSKUs, d.boughtCats = lists[:0:len(lists)-cats], nil
		if cats > 0 {
			d.boughtCats = lists[len(lists)-cats : len(lists)-cats]
		}
		for _, it := range r.bought {
			if sku, ok := strings.CutPrefix(it.member, "s:"); ok {
				d.boughtSKUs = append(d.boughtSKUs, sku)
			} else if cat, ok := strings.CutPrefix(it.member, "c:"); ok {
				d.boughtCats = append(d.boughtCats, cat)
			}
		}
		d.bought = true
	}
	if !d.views {
		// One allocation: the skus from its start, the categories after.
		lists := make([]string, len(r.viewed)+len(r.viewedCats))
		d.viewedSKUs = lists[:0:len(r.viewed)]
		for _, it := range r.viewed {
			d.viewedSKUs = append(d.viewedSKUs, it.member)
		}
		d.viewedCats = lists[len(r.viewed):len(r.viewed)]
		for _, it := range r.viewedCats {
			d.viewedCats = append(d.viewedCats, it.member)
		}
		d.views = true
	}
	return d
}

// The encoding: the generation as 8 bytes big-endian (so that casScript can
// compare it with GETRANGE), then the body: a format byte and the fields in
// order as varints and length-prefixed strings.
const recordFormat = 1

// errRecord: a customer's key holds something else than a record. Retrying
// cannot cure it (stream.Permanent).
var errRecord error = recordError{}

type recordError struct{}

func (recordError) Error() string   { return "not a profile record" }
func (recordError) Permanent() bool { return true }

// encode returns the record as stored, of generation gen; its body (what
// follows the generation) is encode(gen)[8:].
func (r *record) encode(gen uint64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.orig)+128), gen)
	b = append(b, recordFormat)
	b = binary.AppendVarint(b, r.ver)
	b = binary.AppendVarint(b, r.n)
	b = append(b, r.has)
	for _, t := range []int64{r.first, r.last, r.lastBrowse, r.lastCart, r.cartClear, r.ltvHi, r.ltvLo} {
		b = binary.AppendVarint(b, t)
	}
	b = appendString(b, r.mergedInto)
	b = binary.AppendUvarint(b, uint64(len(r.merged)))
	for _, m := range r.merged {
		b = appendString(b, m)
	}
	b = r.section(b, secRegs, func(b []byte) []byte {
		for _, regs := range [][]lww{r.traits, r.cart} {
			b = binary.AppendUvarint(b, uint64(len(regs)))
			for _, x := range regs {
				b = appendString(b, x.name)
				b = binary.AppendVarint(b, x.t)
				b = appendString(b, x.value)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(r.history)))
		for _, e := range r.history {
			b = appendString(b, e.id)
			b = binary.AppendVarint(b, e.t)
			b = binary.AppendVarint(b, e.amt)
		}
		return b
	})
	b = appendItems(appendItems(b, r.viewed), r.viewedCats)
	b = r.section(b, secBought, func(b []byte) []byte { return appendItems(b, r.bought) })
	if p := r.published; p != nil {
		// 1 or 2 (as before there were pending batches); 3 or 4: the
		// batch that wrote it follows the snapshot.
		m := publishedMark(p)
		if r.pend != (pendMark{}) {
			m += 2
		}
		b = append(b, m)
		lo := len(b) - 8
		b = appendSnapshot(b, p)
		r.nextSecs[secPub] = span{lo: lo, hi: len(b) - 8, ok: true}
		if r.pend != (pendMark{}) {
			b = binary.AppendUvarint(binary.AppendUvarint(b, r.pend.w), r.pend.seq)
		}
	} else {
		r.nextSecs[secPub] = span{}
		b = append(b, 0)
	}
	if e := r.entry; e != nil {
		b = append(b, 1)
		for _, x := range []int64{e.Version, e.At, int64(e.F), e.M, e.Last} {
			b = binary.AppendVarint(b, x)
		}
	} else {
		b = append(b, 0)
	}
	return appendTraitKinds(b, r.traits)
}

// publishedEncoding is the snapshot last evaluated (published) as orig
// holds it, what appendSnapshot appends of it, if orig holds it as it is.
func (r *record) publishedEncoding() ([]byte, bool) {
	if s := r.secs[secPub]; s.ok && r.published != nil {
		return r.orig[s.lo:s.hi], true
	}
	return nil, false
}

// section appends section k of the record's encoding b (its generation
// and body so far): the bytes orig holds of it if it has not changed, else
// what enc appends. It notes where in the body it put it (nextSecs).
func (r *record) section(b []byte, k int, enc func([]byte) []byte) []byte {
	lo := len(b) - 8
	if s := r.secs[k]; s.ok {
		b = append(b, r.orig[s.lo:s.hi]...)
	} else {
		b = enc(b)
	}
	r.nextSecs[k] = span{lo: lo, hi: len(b) - 8, ok: true}
	return b
}

func appendItems(b []byte, items []item) []byte {
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendString(b, it.member)
		b = binary.AppendVarint(b, it.t)
	}
	return b
}

// appendSnapshot appends p, which publishedMark(p) precedes.
func appendSnapshot(b []byte, p *Snapshot) []byte {
	b = appendString(b, string(p.Stage))
	b = appendString(b, p.Segment)
	b = append(b, byte(p.RScore), byte(p.FScore), byte(p.MScore))
	b = appendString(b, p.Tier)
	// Front-coded: tags share long prefixes ("bought:category:").
	b = binary.AppendUvarint(b, uint64(len(p.Tags)))
	prev := ""
	for _, t := range p.Tags {
		n := commonPrefix(prev, t)
		b = binary.AppendUvarint(b, uint64(n))
		b = appendString(b, t[n:])
		prev = t
	}
	if p.Waterfall != "" {
		b = appendString(b, p.Waterfall)
	}
	return b
}

// snapshot reads what appendSnapshot wrote after publishedMark's mark m.
func (d *decoder) snapshot(m byte) *Snapshot {
	p := &Snapshot{Stage: nes.Stage(d.string()), Segment: d.string()}
	p.RScore, p.FScore, p.MScore = int(d.byte()), int(d.byte()), int(d.byte())
	p.Tier = d.string()
	if n := d.count(); n > 0 {
		p.Tags = make([]string, n)
		prev := ""
		for i := range p.Tags {
			k := d.uvarint()
			if k > uint64(len(prev)) {
				d.err = errRecord
				break
			}
			p.Tags[i] = prev[:k] + d.string()
			prev = p.Tags[i]
		}
	}
	if m == 2 {
		p.Waterfall = d.string()
	}
	return p
}

// commonPrefix is the length of the longest common prefix of a and b.
// Sorted tags share long prefixes ("viewed_not_bought:"): they are
// compared eight bytes at a time first.
func commonPrefix(a, b string) int {
	n := 0
	for n+8 <= len(a) && n+8 <= len(b) {
		if x := word(a, n) ^ word(b, n); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// word is the eight bytes of s from i, little-endian: the compiler loads
// them at once.
func word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads what encode wrote; the first error sticks.
type decoder struct {
	b   []byte
	s   string // what b holds, as a string: strings are its substrings
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) count() int {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 || x > uint64(len(d.b)) { // every element takes a byte at least
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return int(x)
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil || n > len(d.b) {
		d.err = errRecord
		return ""
	}
	at := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[at : at+n]
}

// items reads what appendItems wrote.
func (d *decoder) items() []item {
	items := make([]item, d.count())
	for i := range items {
		items[i] = item{member: d.string(), t: d.varint()}
	}
	return items
}

// publishedMark is the byte before a published snapshot p: 2 if a
// waterfall segment ends it, else 1.
func publishedMark(p *Snapshot) byte {
	if p.Waterfall != "" {
		return 2
	}
	return 1
}

// decodeRecord decodes a stored record; an empty value is a new, empty one.
func decodeRecord(v []byte) (*record, error) {
	return decodeRecordOf(v, string(v))
}

// decodeRecordOf decodes the stored record v, whose bytes vs holds too:
// the record's strings are substrings of vs, one allocation (Redis's reply)
// instead of one each.
func decodeRecordOf(v []byte, vs string) (*record, error) {
	r := &record{}
	if len(v) == 0 {
		return r, nil
	}
	if len(v) < 9 || v[8] != recordFormat {
		return nil, errRecord
	}
	if len(vs) != len(v) {
		vs = string(v)
	}
	r.gen = binary.BigEndian.Uint64(v)
	d := &decoder{b: v[9:], s: vs[9:]}
	at := func() int { return len(v) - 8 - len(d.b) } // in the body
	r.ver, r.n = d.varint(), d.varint()
	r.has = d.byte()
	for _, p := range []*int64{&r.first, &r.last, &r.lastBrowse, &r.lastCart, &r.cartClear, &r.ltvHi, &r.ltvLo} {
		*p = d.varint()
	}
	r.mergedInto = d.string()
	r.merged = make([]string, d.count())
	for i := range r.merged {
		r.merged[i] = d.string()
	}
	regsAt := at()
	for _, regs := range []*[]lww{&r.traits, &r.cart} {
		*regs = make([]lww, d.count())
		for i := range *regs {
			(*regs)[i] = lww{name: d.string(), t: d.varint(), value: d.string()}
		}
	}
	r.history = make([]entry, d.count())
	for i := range r.history {
		r.history[i] = entry{id: d.string(), t: d.varint(), amt: d.varint()}
	}
	r.nextSecs[secRegs] = span{lo: regsAt, hi: at(), ok: true}
	r.viewed = d.items()
	r.viewedCats = d.items()
	bought := at()
	r.bought = d.items()
	r.nextSecs[secBought] = span{lo: bought, hi: at(), ok: true}
	if m := d.byte(); m >= 1 && m <= 4 {
		pub := at()
		r.published = d.snapshot((m-1)%2 + 1)
		r.nextSecs[secPub] = span{lo: pub, hi: at(), ok: true}
		if m > 2 {
			r.pend = pendMark{w: d.uvarint(), seq: d.uvarint()}
		}
	}
	if d.byte() == 1 {
		r.entry = &population.Entry{Version: d.varint(), At: d.varint(), F: int(d.varint()), M: d.varint(), Last: d.varint()}
	}
	d.traitKinds(r.traits)
	if d.err != nil || len(d.b) != 0 {
		return nil, errRecord
	}
	r.written(v[8:])
	return r, nil
}

// Fields renders a stored record as named fields, the way the store's
// layout once spread it over hashes and sorted sets, for inspection and
// tests: "ver", "n", "first", "last",
// "last_browse", "last_cart", "cart_clear", "ltv" (lifetime spend, micros),
// "merged_into", "merged", "a:<trait>", "cart", "h" (history), "vs", "vc",
// "b", "derived" (the snapshot last published) and "pe" (the population
// entry). Absent fields are left out; ok is false for a value that is no
// record.
func Fields(v []byte) (map[string]string, bool) {
	r, err := decodeRecord(v)
	if err != nil || len(v) == 0 {
		return nil, false
	}
	out := map[string]string{"ver": strconv.FormatInt(r.ver, 10), "n": strconv.FormatInt(r.n, 10)}
	for _, f := range []struct {
		name string
		bit  uint8
		v    int64
	}{{"first", hasFirst, r.first}, {"last", hasLast, r.last}, {"last_browse", hasBrowse, r.lastBrowse}, {"last_cart", hasCart, r.lastCart}, {"cart_clear", hasCartClear, r.cartClear}} {
		if r.has&f.bit != 0 {
			out[f.name] = strconv.FormatInt(f.v, 10)
		}
	}
	if r.ltvHi != 0 || r.ltvLo != 0 {
		out["ltv"] = money.JoinLimbs(r.ltvHi, r.ltvLo).String()
	}
	if r.mergedInto != "" {
		out["merged_into"] = r.mergedInto
	}
	if len(r.merged) > 0 {
		out["merged"] = fmt.Sprint(r.merged)
	}
	for _, a := range r.traits {
		out["a:"+a.name] = fmt.Sprintf("%d|%s", a.t, a.value)
		if a.kind != event.TraitString {
			out["a:"+a.name] += "|" + a.kind.String()
		}
	}
	lists := map[string][]string{}
	for _, c := range r.cart {
		lists["cart"] = append(lists["cart"], fmt.Sprintf("%s=%d|%s", c.name, c.t, c.value))
	}
	for _, e := range r.history {
		lists["h"] = append(lists["h"], fmt.Sprintf("%s@%d=%d", e.id, e.t, e.amt))
	}
	for name, items := range map[string][]item{"vs": r.viewed, "vc": r.viewedCats, "b": r.bought} {
		for _, it := range items {
			lists[name] = append(lists[name], fmt.Sprintf("%s@%d", it.member, it.t))
		}
	}
	for name, l := range lists {
		out[name] = fmt.Sprint(l)
	}
	if r.published != nil {
		out["derived"] = fmt.Sprintf("%+v", *r.published)
	}
	if e := r.entry; e != nil {
		out["pe"] = fmt.Sprintf("%d|%d|%d|%d|%d", e.Version, e.At, e.F, e.M, e.Last)
	}
	return out, true
}
