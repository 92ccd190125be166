package view

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/rfm"
)

// Kind is what an audience name denotes of a customer.
type Kind int

// Kinds of names.
const (
	KindSegment Kind = iota + 1
	KindStage
	KindRScore
	KindFScore
	KindMScore
	KindTier
	KindTag
)

// Attr is one thing a customer is or has at T: the meaning of an audience
// name. Value names the segment, stage, tier or tag; Score is 1–5.
type Attr struct {
	Kind  Kind
	Value string
	Score int
}

// Known tells whether any customer the view has held had tier or tag (kind
// KindTier or KindTag) name: a name an audience may ask for even if nobody
// holds it now.
func (v *View) Known(kind Kind, name string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	switch kind {
	case KindTier:
		_, ok := v.tiers.ids[name]
		return ok && name != ""
	case KindTag:
		_, ok := v.names.ids[name]
		_, live := v.liveNames[name]
		return ok && name != "" || live
	}
	return false
}

// Member is a customer an audience selects, with what a CSV export lists.
type Member struct {
	ID       string
	Segment  string
	Lifetime int64
}

// Page is a page of an audience.
type Page struct {
	At      time.Time
	Total   int
	Members []Member
	// Next is the cursor of the next page: the last id of this one; "" on
	// the last page.
	Next string
}

// Members returns the customers expr selects at T (everyone for a nil
// expr), in id order: those after the cursor after, at most limit of them
// (all with limit ≤ 0), and how many it selects in all. attrs gives the meaning of each name of expr. NOT is
// taken among every customer the view holds, prospects included.
func (v *View) Members(T time.Time, expr audience.Expr, attrs map[string]Attr, after string, limit int) Page {
	v.mu.Lock() // the id order is brought up to date
	v.sortIDs()
	v.mu.Unlock()
	v.mu.RLock()
	defer v.mu.RUnlock()
	sc := v.scoring(T)
	test := v.compile(expr, attrs, v.newLiveTags())
	out := Page{At: T}
	start := sort.Search(len(v.sorted), func(i int) bool { return v.ids[v.sorted[i]] > after })
	rest := 0 // selected after the cursor
	for i, r := range v.sorted {
		id := v.ids[r]
		if id == "" {
			continue
		}
		x := v.row(&sc, r)
		if !test(&x) {
			continue
		}
		out.Total++
		if i < start {
			continue
		}
		if rest++; limit <= 0 || rest <= limit {
			out.Members = append(out.Members, Member{ID: id, Segment: x.scores.Segment, Lifetime: v.lifetime[r]})
		}
	}
	if limit > 0 && rest > limit {
		out.Next = out.Members[limit-1].ID
	}
	return out
}

// compile turns expr into a test of one customer; a nil expr selects
// everyone.
func (v *View) compile(e audience.Expr, attrs map[string]Attr, live *liveTags) func(*row) bool {
	switch x := e.(type) {
	case nil:
		return func(*row) bool { return true }
	case audience.Name:
		return v.test(attrs[x.Name], live)
	case audience.Not:
		t := v.compile(x.X, attrs, live)
		return func(r *row) bool { return !t(r) }
	case audience.And:
		l, r := v.compile(x.L, attrs, live), v.compile(x.R, attrs, live)
		return func(x *row) bool { return l(x) && r(x) }
	case audience.Or:
		l, r := v.compile(x.L, attrs, live), v.compile(x.R, attrs, live)
		return func(x *row) bool { return l(x) || r(x) }
	}
	return func(*row) bool { return false }
}

func (v *View) test(a Attr, live *liveTags) func(*row) bool {
	switch a.Kind {
	case KindSegment:
		return func(r *row) bool { return r.scores.Segment == a.Value }
	case KindStage:
		return func(r *row) bool { return string(r.stage) == a.Value }
	case KindRScore:
		return func(r *row) bool { return r.scores.R == a.Score }
	case KindFScore:
		return func(r *row) bool { return r.scores.F == a.Score }
	case KindMScore:
		return func(r *row) bool { return r.scores.M == a.Score }
	case KindTier:
		id, ok := v.tiers.ids[a.Value]
		return func(r *row) bool { return ok && uint32(v.tier[r.idx]) == id }
	case KindTag:
		if i, ok := v.liveNames[a.Value]; ok {
			return func(r *row) bool { return live.holds(i, r) }
		}
		id, ok := v.names.ids[a.Value]
		return func(r *row) bool { return ok && slices.Contains(v.tags[r.idx], id) }
	}
	return func(*row) bool { return false }
}

// sortIDs brings the id order up to date: rows added since are sorted and
// merged in, rows removed left out and free to reuse. It runs under the
// write lock.
func (v *View) sortIDs() {
	if len(v.unsorted) == 0 && len(v.dead) == 0 {
		return
	}
	slices.SortFunc(v.unsorted, func(a, b int32) int { return strings.Compare(v.ids[a], v.ids[b]) })
	merged := make([]int32, 0, len(v.sorted)+len(v.unsorted))
	i, j := 0, 0
	for i < len(v.sorted) || j < len(v.unsorted) {
		var r int32
		if j == len(v.unsorted) || i < len(v.sorted) && v.ids[v.sorted[i]] < v.ids[v.unsorted[j]] {
			r, i = v.sorted[i], i+1
		} else {
			r, j = v.unsorted[j], j+1
		}
		if v.ids[r] != "" && (len(merged) == 0 || merged[len(merged)-1] != r) {
			merged = append(merged, r)
		}
	}
	v.sorted, v.unsorted = merged, v.unsorted[:0]
	v.free, v.dead = append(v.free, v.dead...), v.dead[:0]
}

// Value is the number of customers and the sum of their lifetime spend.
type Value struct {
	Customers int64
	Total     money.Sum
}

// Lifetimes returns the lifetime spend of every customer at T, in all and
// by RFM segment; customers without a segment at T are under "".
func (v *View) Lifetimes(T time.Time) (all Value, bySegment map[string]Value) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	sc := v.scoring(T)
	segs := make([]Value, len(rfm.Segments)+1) // the last for no segment
	for r, id := range v.ids {
		if id == "" {
			continue
		}
		i := len(rfm.Segments)
		if v.f[r] >= 1 {
			i = sc.segmentIndex(recency(sc.T, v.last[r]), int64(v.f[r]), v.m[r])
		}
		segs[i].Customers++
		segs[i].Total = segs[i].Total.Add(money.Micros(v.lifetime[r]))
	}
	bySegment = map[string]Value{}
	for i, s := range segs {
		name := ""
		if i < len(rfm.Segments) {
			name = rfm.Segments[i]
		}
		if s.Customers > 0 {
			bySegment[name] = s
		}
		all.Customers += s.Customers
		all.Total = all.Total.Plus(s.Total)
	}
	return all, bySegment
}
