package tag

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Memo keeps what one profile's last evaluation gave, rule by rule, with
// the values of the variables it read, so that EvalMemo evaluates again
// only the rules that read a variable whose value changed since: an event
// that adds a viewed product leaves the rules over bought categories as
// they were. Of an elementwise Each rule (each.go) it keeps what each
// element of the list gave, so that a rule over the viewed products is
// evaluated for a new product alone. It is one profile's (one customer's)
// and safe for concurrent use; its zero value holds nothing.
//
// Rules are pure (the same input gives the same tags), so an outcome taken
// from the Memo is the one evaluating the rule would give. Values are
// compared exactly: lists element by element, traits by type and value.
// The Memo keeps copies of the lists and maps it compares, never the
// caller's.
type Memo struct {
	mu   sync.Mutex
	e    *Engine    // the engine outs are of
	in   Input      // the values of the last evaluation, of the variables e reads
	outs [][]string // by rule; nil: no evaluation yet
	next [][]string // the outcomes of the evaluation under way
	// elems are, by rule, the outcomes of the elements of an elementwise
	// rule (each.go) at its last evaluation; nextElems are the evaluation
	// under way's.
	elems, nextElems [][]elemOut
	same             [numVars]bool // of the evaluation under way: the variable has in's value
	lastMerged       bool          // the last evaluation's tags were merged from the ones before (merged)
	// tags are the last evaluation's tags, sorted and without duplicates:
	// callers share them, so they are never changed in place.
	tags []string
}

// EvalMemo is Eval, taking from m the outcomes of rules whose variables
// have the values they had in m's last evaluation, and keeping in m this
// one's. A nil m is Eval.
func (e *Engine) EvalMemo(in Input, m *Memo) (tags []string, tier string, err error) {
	if m == nil {
		return e.eval(in, nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != e {
		m.e, m.in, m.outs, m.elems, m.tags = e, Input{}, nil, nil, nil
	}
	for v := range m.same {
		m.same[v] = m.outs != nil && e.reads[v] && sameVar(v, &m.in, &in)
	}
	m.next = slices.Grow(m.next[:0], len(e.rules))[:len(e.rules)]
	m.nextElems = slices.Grow(m.nextElems[:0], len(e.rules))[:len(e.rules)]
	return e.eval(in, m)
}

// outcome returns the memo's outcome of rule i (of e) for the evaluation
// under way, if the rule's variables have the values they had when it was
// computed.
func (m *Memo) outcome(e *Engine, i int) ([]string, bool) {
	if m == nil || m.outs == nil {
		return nil, false
	}
	for _, v := range e.rules[i].vars {
		if !m.same[v] {
			return nil, false
		}
	}
	m.next[i], m.nextElems[i] = m.outs[i], m.elems[i]
	return m.outs[i], true
}

// keep records rule i's outcome of the evaluation under way.
func (m *Memo) keep(i int, out []string) {
	if m != nil {
		m.next[i] = out
	}
}

// elementwise evaluates the elementwise rule i of e on act's input in,
// taking the outcomes of the elements the memo has of it if the variables
// its steps read have the values they had then, and keeps this
// evaluation's outcomes.
//
// If d.on and it takes outcomes from the memo, it returns d with the
// difference from the last evaluation's tags (elementwise.eval) and
// d.ok[i] set; otherwise d as it was. The last outcome must not have
// failed: a failed one's tags (none) are not those of its elements, so
// they are no base for a difference. Outcomes that did not fail are never
// nil.
func (m *Memo) elementwise(e *Engine, i int, act *activation, in *Input, d delta) ([]string, delta) {
	ew := e.rules[i].elem
	var seen []elemOut
	if m.outs != nil {
		seen = m.elems[i]
		for _, v := range ew.vars {
			if !m.same[v] {
				seen = nil
				break
			}
		}
	}
	nd := d
	nd.on = d.on && seen != nil && m.outs[i] != nil
	tags, outs, nd := ew.eval(act, listOf(in, ew.list), seen, nd)
	m.nextElems[i] = outs
	if !nd.on || tags == nil {
		return tags, d
	}
	nd.ok[i] = true
	return tags, nd
}

// delta is how an evaluation's tags differ from the memo's last ones, rule
// by rule, while on: ok[i], rule i's difference is in add (tags it gives
// that it did not) and del (tags it no longer gives).
type delta struct {
	on       bool
	add, del []string
	ok       []bool
}

// done makes the evaluation under way, of in, which has an outcome of
// every rule, the memo's last one: it copies the values that changed. An
// evaluation stopped by an error does not get here, and leaves the last
// one as it was.
func (m *Memo) done(in Input) {
	if m == nil {
		return
	}
	m.outs, m.next = m.next, m.outs
	m.elems, m.nextElems = m.nextElems, m.elems
	for v, reads := range m.e.reads {
		if reads && !m.same[v] {
			copyVar(v, &m.in, &in)
		}
	}
}

// merged returns the tags of outs, this evaluation's outcomes by rule
// (after done, which made m.next the last evaluation's), sorted and without
// duplicates, from the last evaluation's tags, if each rule's outcome is its
// last one, its last one with tags appended, or its last one changed as d
// says (an elementwise rule taken from the memo: a product viewed again
// moves in the list, one forgotten takes its tag with it). The tags are then
// the last ones with the additions inserted and the deletions removed,
// which costs a copy instead of a sort, and none when the tags are the
// same. false: an outcome changed otherwise, and the caller sorts them all.
func (m *Memo) merged(outs [][]string, d delta) ([]string, bool) {
	for i, out := range outs {
		last := m.next[i]
		switch {
		case len(out) == len(last) && (len(out) == 0 || &out[0] == &last[0]):
			// the memo's outcome
		case d.ok[i]:
		case len(out) >= len(last) && slices.Equal(out[:len(last)], last):
			d.add = append(d.add, out[len(last):]...)
		default:
			return nil, false
		}
	}
	// A tag one rule or element no longer gives stays if another gives it.
	del := slices.DeleteFunc(d.del, func(t string) bool { return given(outs, t) })
	if len(d.add) == 0 && len(del) == 0 {
		return m.tags, true
	}
	slices.Sort(d.add)
	slices.Sort(del)
	return edit(m.tags, slices.Compact(d.add), slices.Compact(del)), true
}

// given tells whether one of outs has the tag t.
func given(outs [][]string, t string) bool {
	for _, out := range outs {
		if slices.Contains(out, t) {
			return true
		}
	}
	return false
}

// edit returns a copy of tags, sorted and without duplicates, with add
// inserted and del removed (each sorted and without duplicates): a tag of
// add that tags has already is not inserted twice, and one of del that
// tags lacks is ignored.
func edit(tags, add, del []string) []string {
	out := make([]string, 0, len(tags)+len(add))
	from := 0
	for len(add) > 0 || len(del) > 0 {
		if len(del) == 0 || len(add) > 0 && add[0] < del[0] {
			k, found := slices.BinarySearch(tags[from:], add[0])
			out = append(out, tags[from:from+k]...)
			from += k
			if !found {
				out = append(out, add[0])
			}
			add = add[1:]
			continue
		}
		k, found := slices.BinarySearch(tags[from:], del[0])
		out = append(out, tags[from:from+k]...)
		from += k
		if found {
			from++
		}
		del = del[1:]
	}
	return append(out, tags[from:]...)
}

// copyVar sets the variable v (var*) of dst to src's value, copying lists
// and maps.
func copyVar(v int, dst, src *Input) {
	switch v {
	case varStage:
		dst.Stage = src.Stage
	case varR:
		dst.R = src.R
	case varF:
		dst.F = src.F
	case varM:
		dst.M = src.M
	case varRScore:
		dst.RScore = src.RScore
	case varFScore:
		dst.FScore = src.FScore
	case varMScore:
		dst.MScore = src.MScore
	case varSegment:
		dst.Segment = src.Segment
	case varOrders:
		dst.Orders = src.Orders
	case varLifetime:
		dst.Lifetime = src.Lifetime
	case varCartValue:
		dst.CartValue = src.CartValue
	case varBoughtSKUs:
		dst.BoughtSKUs = slices.Clone(src.BoughtSKUs)
	case varBoughtCategories:
		dst.BoughtCategories = slices.Clone(src.BoughtCategories)
	case varViewedSKUs:
		dst.ViewedSKUs = slices.Clone(src.ViewedSKUs)
	case varViewedCategories:
		dst.ViewedCategories = slices.Clone(src.ViewedCategories)
	case varTraits:
		dst.Traits = maps.Clone(src.Traits)
	case varConsent:
		dst.Consent = maps.Clone(src.Consent)
	}
}

// sameVar tells whether a and b have the same value of the variable v
// (var*), so that every rule gives them the same outcome.
func sameVar(v int, a, b *Input) bool {
	switch v {
	case varStage:
		return a.Stage == b.Stage
	case varR:
		return a.R == b.R
	case varF:
		return a.F == b.F
	case varM:
		return a.M == b.M
	case varRScore:
		return a.RScore == b.RScore
	case varFScore:
		return a.FScore == b.FScore
	case varMScore:
		return a.MScore == b.MScore
	case varSegment:
		return a.Segment == b.Segment
	case varOrders:
		return a.Orders == b.Orders
	case varLifetime:
		return a.Lifetime == b.Lifetime
	case varCartValue:
		return a.CartValue == b.CartValue
	case varBoughtSKUs:
		return slices.Equal(a.BoughtSKUs, b.BoughtSKUs)
	case varBoughtCategories:
		return slices.Equal(a.BoughtCategories, b.BoughtCategories)
	case varViewedSKUs:
		return slices.Equal(a.ViewedSKUs, b.ViewedSKUs)
	case varViewedCategories:
		return slices.Equal(a.ViewedCategories, b.ViewedCategories)
	case varTraits:
		return maps.EqualFunc(a.Traits, b.Traits, sameTrait)
	case varConsent:
		return maps.Equal(a.Consent, b.Consent)
	}
	return false
}

// sameTrait tells whether two trait values are the same value of the same
// type; a value of a type traits do not have is never the same.
func sameTrait(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x == y // the same instant in the same location
	}
	return false
}
