package profile

import (
	"slices"
	"strings"

	"github.com/segflow/segflow/pkg/event"
)

// Traits are last-writer-wins registers in the record's traits section,
// with the kind of their value (event.TraitKind). The kinds follow the
// record's other sections, one byte a register in the registers' order, and
// only when a register holds another kind than a string: a record written
// before traits were typed, or holding strings only, has no such section,
// and its traits read as strings.

// setTrait writes trait a to regs unless the register holds a later write;
// of two writes at the same time the larger value wins, then the larger
// kind, so that the outcome does not depend on arrival order.
func setTrait(regs []lww, a lww) []lww {
	i, ok := slices.BinarySearchFunc(regs, a.name, func(r lww, name string) int { return strings.Compare(r.name, name) })
	if !ok {
		return slices.Insert(regs, i, a)
	}
	r := &regs[i]
	if r.losesTo(a.t, a.value) || r.t == a.t && r.value == a.value && a.kind > r.kind {
		*r = a
	}
	return regs
}

// appendTraitKinds appends the kinds of traits, unless all are strings.
func appendTraitKinds(b []byte, traits []lww) []byte {
	i := slices.IndexFunc(traits, func(a lww) bool { return a.kind != event.TraitString })
	if i < 0 {
		return b
	}
	kinds := make([]byte, len(traits))
	for i, a := range traits {
		kinds[i] = byte(a.kind)
	}
	return appendString(b, string(kinds))
}

// traitKinds reads the kinds of traits that appendTraitKinds wrote, if it
// wrote any.
func (d *decoder) traitKinds(traits []lww) {
	if d.err != nil || len(d.b) == 0 {
		return
	}
	kinds := d.string()
	if len(kinds) != len(traits) {
		d.err = errRecord
		return
	}
	for i := range traits {
		if k := event.TraitKind(kinds[i]); k <= event.TraitTime {
			traits[i].kind = k
		} else {
			d.err = errRecord
		}
	}
}

// summaryTraits are the traits of registers that a Summary carries: all but
// consent and ContactTraits.
func summaryTraits(regs []lww) []event.Trait {
	var out []event.Trait
	for _, a := range regs {
		if strings.HasPrefix(a.name, "consent.") || ContactTraits[a.name] {
			continue
		}
		out = append(out, event.Trait{Name: a.name, Kind: a.kind, Text: a.value})
	}
	return out
}
