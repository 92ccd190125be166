package view

import (
	"bytes"
	"container/heap"
	"slices"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
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
	KindWaterfall
	// KindTrait is a comparison of a trait (audience.Compare), which the
	// view resolves itself: no Attr names one.
	KindTrait
	// KindPCLVDecile is a decile (Score, 1–10) of predicted CLV among the
	// customers predicted, as of the last refresh (View.Predict).
	KindPCLVDecile
	// KindPAlive is a comparison of P(alive) as of the last refresh: Op
	// and Than.
	KindPAlive
)

// Attr is one thing a customer is or has at T: the meaning of an audience
// name. Value names the segment, stage, tier, tag or waterfall segment;
// Score is 1–5, or a decile 1–10; Op and Than compare P(alive). A customer
// without a prediction has no decile and passes no comparison.
type Attr struct {
	Kind  Kind
	Value string
	Score int
	Op    audience.Op
	Than  float64
}

// Known tells whether any customer the view has held had tier, tag,
// waterfall segment or trait (kind KindTier, KindTag, KindWaterfall or
// KindTrait) name: a name an audience may ask for even if nobody holds it
// now.
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
	case KindTrait:
		_, ok := v.traitNames.ids[name]
		return ok && name != ""
	case KindWaterfall:
		_, ok := v.waterfalls.ids[name]
		return ok && name != "" || v.wf != nil && slices.Contains(v.wf.Names(), name)
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
// (all with limit ≤ 0), and how many it selects in all. attrs gives the
// meaning of each name of expr. NOT is taken among every customer the view
// holds, prospects included. A page of limit costs a pass over the
// customers and keeping the limit smallest ids; all of them, a sort.
func (v *View) Members(T time.Time, expr audience.Expr, attrs map[string]Attr, after string, limit int) Page {
	v.mu.RLock()
	defer v.mu.RUnlock()
	sc := v.scoring(T)
	test, live := v.compile(expr, attrs), v.newLiveTags()
	out := Page{At: T}
	p := page{v: v, limit: limit}
	for idx, c := range v.all() {
		if x := rowOf(&sc, idx, c); !test.holds(&x, live) {
			continue
		}
		out.Total++
		if id := v.ids.ID(idx); after == "" || string(id) > after {
			p.offer(idx, id)
		}
	}
	slices.SortFunc(p.rows, v.ids.Compare)
	out.Members = make([]Member, len(p.rows))
	for i, idx := range p.rows {
		c := v.cust(idx)
		out.Members[i] = Member{ID: string(v.ids.ID(idx)), Segment: segmentOf(&sc, c), Lifetime: c.lifetime}
	}
	if limit > 0 && p.seen > limit {
		out.Next = out.Members[limit-1].ID
	}
	return out
}

// page keeps the rows of the limit customers with the smallest ids of those
// offered (all with limit ≤ 0): with a limit, a heap with the largest id on
// top, whose id is top.
type page struct {
	v     *View
	limit int
	rows  []int32
	top   []byte
	seen  int
}

func (p *page) offer(row int32, id []byte) {
	p.seen++
	switch {
	case p.limit <= 0:
		p.rows = append(p.rows, row)
		return
	case len(p.rows) < p.limit:
		p.rows = append(p.rows, row)
		heap.Push(p, row)
	case bytes.Compare(id, p.top) < 0:
		p.rows[0] = row
		heap.Fix(p, 0)
	default:
		return
	}
	p.top = p.v.ids.ID(p.rows[0])
}

// Len, Less, Swap, Push and Pop make the page a heap of the largest id
// first (container/heap), with Push appending nothing: offer did.
func (p *page) Len() int           { return len(p.rows) }
func (p *page) Less(i, j int) bool { return p.v.ids.Compare(p.rows[i], p.rows[j]) > 0 }
func (p *page) Swap(i, j int)      { p.rows[i], p.rows[j] = p.rows[j], p.rows[i] }
func (p *page) Push(any)           {}
func (p *page) Pop() any           { panic("view: a page never pops") }

// segmentOf returns the segment of customer c at the scoring's T; "" for a
// non-buyer.
func segmentOf(sc *scoring, c *customer) string {
	x := rowOf(sc, -1, c)
	if i := x.Segment(); i >= 0 {
		return rfm.Segments[i]
	}
	return ""
}

// test is an audience expression compiled against the view: a tree whose
// leaves test one thing of a customer, asking the row only what they need.
type test struct {
	op   testOp
	l, r *test
	// a name's
	kind    Kind
	segment int // index into rfm.Segments
	stage   nes.Stage
	score   int
	in      []bool // by label set, for a tier, tag or published waterfall segment
	live    int    // live tag rule
	trait   *traitTest
	name    string // waterfall segment, of a live waterfall
	cmp     audience.Op
	than    float64 // P(alive) compared
}

type testOp uint8

const (
	opNone testOp = iota // selects nobody
	opAll
	opName
	opNot
	opAnd
	opOr
)

// compile turns expr into a test of one customer; a nil expr selects
// everyone.
func (v *View) compile(e audience.Expr, attrs map[string]Attr) *test {
	switch x := e.(type) {
	case nil:
		return &test{op: opAll}
	case audience.Name:
		return v.compileName(attrs[x.Name])
	case audience.Compare:
		return v.compileCompare(x)
	case audience.Not:
		return &test{op: opNot, l: v.compile(x.X, attrs)}
	case audience.And:
		return &test{op: opAnd, l: v.compile(x.L, attrs), r: v.compile(x.R, attrs)}
	case audience.Or:
		return &test{op: opOr, l: v.compile(x.L, attrs), r: v.compile(x.R, attrs)}
	}
	return &test{op: opNone}
}

func (v *View) compileName(a Attr) *test {
	t := &test{op: opName, kind: a.Kind, stage: nes.Stage(a.Value), score: a.Score, live: -1, cmp: a.Op, than: a.Than}
	switch a.Kind {
	case KindSegment:
		t.segment = slices.Index(rfm.Segments, a.Value)
		if t.segment < 0 {
			t.op = opNone
		}
	case KindTier:
		id, ok := v.tiers.ids[a.Value]
		t.in = v.labels.which(func(s *labelSet) bool { return ok && s.tier == id })
	case KindTag:
		if i, ok := v.liveNames[a.Value]; ok {
			t.live = i
			break
		}
		id, ok := v.names.ids[a.Value]
		t.in = v.labels.which(func(s *labelSet) bool { return ok && slices.Contains(s.tags, id) })
	case KindWaterfall:
		if v.wf != nil {
			t.name = a.Value
			break
		}
		id, ok := v.waterfalls.ids[a.Value]
		t.in = v.labels.which(func(s *labelSet) bool { return ok && s.waterfall == id })
	case KindStage, KindRScore, KindFScore, KindMScore, KindPCLVDecile, KindPAlive:
	default:
		t.op = opNone
	}
	return t
}

// holds tells whether customer x passes the test.
func (t *test) holds(x *row, live *liveTags) bool {
	switch t.op {
	case opAll:
		return true
	case opNot:
		return !t.l.holds(x, live)
	case opAnd:
		return t.l.holds(x, live) && t.r.holds(x, live)
	case opOr:
		return t.l.holds(x, live) || t.r.holds(x, live)
	case opName:
		switch t.kind {
		case KindSegment:
			return x.Segment() == t.segment
		case KindStage:
			return x.Stage() == t.stage
		case KindRScore:
			return x.Scores().R == t.score
		case KindFScore:
			return x.Scores().F == t.score
		case KindMScore:
			return x.Scores().M == t.score
		case KindWaterfall:
			if t.name != "" {
				return live.waterfall(x) == t.name
			}
			return t.in[x.c.labels]
		case KindTier, KindTag:
			if t.live >= 0 {
				return live.holds(t.live, x)
			}
			return t.in[x.c.labels]
		case KindTrait:
			return t.trait.holds(x.c)
		case KindPCLVDecile:
			_, _, d, ok := x.sc.pred.of(x.idx)
			return ok && d == t.score
		case KindPAlive:
			p, _, _, ok := x.sc.pred.of(x.idx)
			return ok && compareFloat(p, t.cmp, t.than)
		}
	}
	return false
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
	for _, c := range v.all() {
		i := len(rfm.Segments)
		if c.f >= 1 {
			i = sc.segmentIndex(recency(sc.T, c.last), int64(c.f), c.m)
		}
		segs[i].Customers++
		segs[i].Total = segs[i].Total.Add(money.Micros(c.lifetime))
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

// compareFloat tells whether a op b; false for an unknown op.
func compareFloat(a float64, op audience.Op, b float64) bool {
	switch op {
	case audience.Eq:
		return a == b
	case audience.Ne:
		return a != b
	case audience.Lt:
		return a < b
	case audience.Le:
		return a <= b
	case audience.Gt:
		return a > b
	case audience.Ge:
		return a >= b
	}
	return false
}
