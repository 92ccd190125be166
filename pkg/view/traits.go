package view

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/event"
)

// Traits are held a customer apiece, in one arena: a customer's traits
// are 12 bytes each, and the row says where they are (8 bytes more a row);
// the values of string traits are numbered (View.traitValues), so that
// "Hong Kong" is held once. A view holds at most maxTraitNames names: a
// trait of another name is not held (a client could send any names).
const maxTraitNames = 1024

// traitCell is one trait of a customer: its name (View.traitNames) and
// kind in one number, and the value: a string's number (View.traitValues),
// a number's float64 bits, 1 or 0 for a bool, a time's Unix milliseconds.
type traitCell struct {
	nameKind uint32 // name<<2 | kind
	lo, hi   uint32 // of the value
}

func newCell(name uint32, kind event.TraitKind, value uint64) traitCell {
	return traitCell{nameKind: name<<2 | uint32(kind), lo: uint32(value), hi: uint32(value >> 32)}
}

func (c traitCell) name() uint32          { return c.nameKind >> 2 }
func (c traitCell) kind() event.TraitKind { return event.TraitKind(c.nameKind & 3) }
func (c traitCell) value() uint64         { return uint64(c.hi)<<32 | uint64(c.lo) }

// traitsOf is where a customer's traits are in the arena: cells[off:off+n].
type traitsOf struct {
	off uint32
	n   uint8
}

// traitArena holds every customer's traits; cells[0] is held by nobody, so
// that offset 0 means none.
type traitArena struct {
	cells   []traitCell
	garbage int // cells held by nobody
}

// traitCells returns the cells of traits, sorted by name.
func (v *View) traitCells(traits []event.Trait) []traitCell {
	if len(traits) == 0 {
		return nil
	}
	out := make([]traitCell, 0, len(traits))
	for _, t := range traits {
		name, ok := v.traitNames.ids[t.Name]
		if !ok {
			if v.traitNames.len() > maxTraitNames {
				continue
			}
			name = v.traitNames.id(t.Name)
		}
		var value uint64
		switch t.Kind {
		case event.TraitString:
			value = uint64(v.traitValues.id(t.Text))
		case event.TraitNumber:
			value = math.Float64bits(t.Value().(float64))
		case event.TraitBool:
			if t.Text == "true" {
				value = 1
			}
		case event.TraitTime:
			value = uint64(t.Value().(time.Time).UnixMilli())
		default:
			continue
		}
		out = append(out, newCell(name, t.Kind, value))
	}
	slices.SortFunc(out, func(a, b traitCell) int { return cmp.Compare(a.name(), b.name()) })
	return slices.CompactFunc(out, func(a, b traitCell) bool { return a.name() == b.name() })
}

// holdTraits stores cells in place of old, a customer's traits until now,
// and returns where they are.
func (v *View) holdTraits(old traitsOf, cells []traitCell) (uint32, uint8) {
	a := &v.traits
	if len(a.cells) == 0 {
		a.cells = make([]traitCell, 1, 1024)
	}
	cells = cells[:min(len(cells), math.MaxUint8)]
	if len(cells) == 0 {
		v.releaseTraits(old)
		return 0, 0
	}
	if old.off != 0 && len(cells) <= int(old.n) {
		copy(a.cells[old.off:], cells)
		a.garbage += int(old.n) - len(cells)
		return old.off, uint8(len(cells))
	}
	v.releaseTraits(old)
	off := uint32(len(a.cells))
	a.cells = append(a.cells, cells...)
	return off, uint8(len(cells))
}

func (v *View) releaseTraits(old traitsOf) { v.traits.garbage += int(old.n) }

// compactTraits moves every customer's traits to a new arena once most
// cells are held by nobody, so that the arena takes at most twice the
// cells held.
func (v *View) compactTraits() {
	a := &v.traits
	if a.garbage < 4096 || a.garbage < len(a.cells)/2 {
		return
	}
	cells := make([]traitCell, 1, len(a.cells)-a.garbage+1024)
	for _, c := range v.all() {
		if c.ntraits == 0 {
			continue
		}
		off := uint32(len(cells))
		cells = append(cells, a.cells[c.traits:c.traits+uint32(c.ntraits)]...)
		c.traits = off
	}
	a.cells, a.garbage = cells, 0
}

// traitsAt returns the cells of customer c.
func (v *View) traitsAt(c *customer) []traitCell {
	if c.ntraits == 0 {
		return nil
	}
	return v.traits.cells[c.traits : c.traits+uint32(c.ntraits)]
}

// cell returns trait name of cells, if they hold it.
func cell(cells []traitCell, name uint32) (traitCell, bool) {
	for _, c := range cells {
		if c.name() == name {
			return c, true
		}
	}
	return traitCell{}, false
}

// traitTest is a comparison of a trait compiled against the view.
type traitTest struct {
	v     *View
	name  uint32
	known bool // any customer had the trait
	c     audience.Compare
}

// compileCompare returns the test of comparison c. A customer holds it only
// with a value of the value's kind (a time for a string that is an RFC 3339
// time or a date): without the trait, or with another kind, not even !=
// holds.
func (v *View) compileCompare(c audience.Compare) *test {
	name, known := v.traitNames.ids[c.Trait]
	return &test{op: opName, kind: KindTrait, live: -1, trait: &traitTest{v: v, name: name, known: known && c.Trait != "", c: c}}
}

// holds tells whether customer c passes the test.
func (t *traitTest) holds(c *customer) bool {
	if !t.known {
		return false
	}
	x, ok := cell(t.v.traitsAt(c), t.name)
	if !ok {
		return false
	}
	d, ok := t.v.compareCell(x, t.c.Value)
	return ok && holdsOp(t.c.Op, d)
}

// compareCell compares a cell's value with x: -1, 0 or 1, and whether they
// are of the same kind.
func (v *View) compareCell(c traitCell, x any) (int, bool) {
	switch x := x.(type) {
	case string:
		switch c.kind() {
		case event.TraitString:
			return strings.Compare(v.traitValues.names[c.value()], x), true
		case event.TraitTime:
			at, ok := timeOf(x)
			return cmp.Compare(int64(c.value()), at), ok
		}
	case float64:
		if c.kind() == event.TraitNumber {
			return cmp.Compare(math.Float64frombits(c.value()), x), true
		}
	case bool:
		if c.kind() == event.TraitBool {
			return cmp.Compare(c.value(), map[bool]uint64{false: 0, true: 1}[x]), true
		}
	}
	return 0, false
}

// timeOf reads an RFC 3339 time or a date (midnight UTC) as Unix ms.
func timeOf(s string) (int64, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}

func holdsOp(op audience.Op, d int) bool {
	switch op {
	case audience.Eq:
		return d == 0
	case audience.Ne:
		return d != 0
	case audience.Lt:
		return d < 0
	case audience.Le:
		return d <= 0
	case audience.Gt:
		return d > 0
	case audience.Ge:
		return d >= 0
	}
	return false
}

// MaxTraitValues is the most values TraitCounts lists of one trait.
const MaxTraitValues = 100

// TraitCount is how many customers hold a trait with a value.
type TraitCount struct {
	Value     any // string, float64, bool or time.Time
	Customers int64
}

// TraitCounts are the counts of one trait's values.
type TraitCounts struct {
	// Customers holding the trait, with any value.
	Customers int64
	// Distinct values held.
	Distinct int
	// Top are the values held by the most customers, most first (of as
	// many, in the order of their values' canonical text), at most limit of
	// them.
	Top []TraitCount
}

// TraitCounts counts the customers holding each value of trait name, and
// tells whether any customer the view has held had it. limit (1 to
// MaxTraitValues; else MaxTraitValues) caps the values listed. It reads
// each set of labels once, not each customer.
func (v *View) TraitCounts(name string, limit int) (TraitCounts, bool) {
	if limit < 1 || limit > MaxTraitValues {
		limit = MaxTraitValues
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.traitNames.ids[name]
	if !ok || name == "" {
		return TraitCounts{}, false
	}
	type key struct {
		kind  event.TraitKind
		value uint64
	}
	counts := map[key]int64{}
	var out TraitCounts
	for _, c := range v.all() {
		if x, ok := cell(v.traitsAt(c), id); ok {
			counts[key{x.kind(), x.value()}]++
			out.Customers++
		}
	}
	out.Distinct = len(counts)
	type entry struct {
		TraitCount
		text string
	}
	entries := make([]entry, 0, len(counts))
	for k, n := range counts {
		val, text := v.cellValue(k.kind, k.value)
		entries = append(entries, entry{TraitCount{Value: val, Customers: n}, text})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.Customers != b.Customers {
			return cmp.Compare(b.Customers, a.Customers)
		}
		return strings.Compare(a.text, b.text)
	})
	out.Top = make([]TraitCount, 0, min(limit, len(entries)))
	for _, e := range entries[:min(limit, len(entries))] {
		out.Top = append(out.Top, e.TraitCount)
	}
	return out, true
}

// cellValue is a cell's value as Go, and as canonical text.
func (v *View) cellValue(kind event.TraitKind, value uint64) (any, string) {
	switch kind {
	case event.TraitNumber:
		x := math.Float64frombits(value)
		return x, strconv.FormatFloat(x, 'g', -1, 64)
	case event.TraitBool:
		return value == 1, strconv.FormatBool(value == 1)
	case event.TraitTime:
		t := time.UnixMilli(int64(value)).UTC()
		return t, t.Format(time.RFC3339Nano)
	}
	s := v.traitValues.names[value]
	return s, s
}
