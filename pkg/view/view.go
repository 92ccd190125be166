// Package view keeps every customer's segmentation inputs in memory, a
// compact row each — orders ever, last purchase and purchase cycle, F and M
// in the RFM window as of their last evaluation, lifetime spend, tier, tags
// and traits and waterfall segment — and answers, as of any time T, what the
// read API asks of the whole population: each buyer's RFM scores and
// segment, each customer's NES stage, the counts of segments, the R×F grid,
// stages, tiers, tags, waterfall segments and a trait's values, and the
// members of an audience expression. No question reads Redis, and none
// depends on when the inputs arrived.
//
// # Exactness
//
// Scores are the SPEC's quintile scores among the buyers (F ≥ 1) at T,
// computed from order statistics kept as customers change (pkg/rank):
//
//   - A buyer's F score is 1 + #{s ∈ 2..5 : b ≥ k_s}, where b is the number of
//     buyers with a smaller F and k_s = ⌈(s−1)·n/5⌉ for n buyers; and b ≥ k
//     exactly when the value of rank k−1 is smaller than the buyer's. So four
//     thresholds, read once per T, score every buyer. M likewise.
//   - R = ⌊(T − last)/24h⌋ (0 for a purchase after T) is monotone in the last
//     purchase, and a buyer y has a larger R than x exactly when
//     last_y ≤ T − (R_x + 1)·24h; the same four thresholds, taken from the
//     last purchases, score R.
//   - The segment compares with the means: ΣF and ΣM are kept as customers
//     change; ΣR at T is summed in the pass over the buyers that resolves
//     the order statistics.
//   - Tags whose rules read the stage, R, a score or the segment (tag.Live)
//     are evaluated at T, not taken as last published.
//   - A waterfall whose conditions read only what the view holds (stage,
//     R, F, M, scores, segment, orders, lifetime, tier, tags) is evaluated
//     at T, all of it, so that its segments are those of the scores and
//     stages at T and still a partition (NewFor, liveWaterfall). One that
//     reads more (traits, products) cannot be, and each customer's segment
//     is as last published, at their last evaluation by an event or a
//     timer.
//
// So Counts, Scores and Members agree with rfm.Compute and nes run on the
// same values at the same T, and with the profile the store evaluates from
// the same inputs.
//
// # Cost
//
// A customer costs a row of 80 bytes (the version and time of their summary
// in one number, last purchase, purchase cycle, F, M, lifetime spend,
// orders, a number for their tier, tags and waterfall segment, where their
// traits are, and the prediction models' inputs: purchase days, the first
// one and the spend of the others), and their id numbered by row (pkg/ids:
// the id's bytes, a 4-byte offset and 5 to 11 bytes of index): 107 bytes
// at 1M customers with ids of 11 characters, where a map[string]struct{}
// of the ids alone takes 72 (BenchmarkBuild). Predictions, once a model is
// fitted, add 17 bytes a customer (predict.go). Traits (all but contact traits, see
// profile.ContactTraits) cost 12 bytes each, and the text of a string value
// once for all the customers holding it: 13 bytes a trait at 1M customers
// with 2.6 traits of low cardinality each, 15 with a number of their own
// besides (BenchmarkBuild/view-with-traits, view-with-unique-traits). The order statistics of F, M and the last purchase are
// histograms that hold no values (pkg/rank), which a question resolves with
// one pass over the buyers; so a question reads every customer twice: at 1M
// customers, counts in 29 ms, a page of an audience in 25–27 ms, CLV in
// 37 ms, growing linearly (BenchmarkCounts). Building the view from summaries in
// memory takes 0.5 s at 1M customers (BenchmarkBuild).
//
// A View is safe for concurrent use: updates take a write lock, questions a
// read lock.
package view

import (
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/segflow/segflow/pkg/ids"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rank"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/waterfall"
)

const day = int64(24 * time.Hour / time.Millisecond)

// View is the population in memory.
type View struct {
	nes nes.Config
	// live are the tag rules that move with time or the population, evaluated
	// at each question (tag.Live); liveNames their names, by index.
	live      []tag.Live
	liveNames map[string]int
	// wf is the waterfall, if the view evaluates it at each question
	// (liveWaterfall); nil: segments are as last published.
	wf *waterfall.Engine

	mu sync.RWMutex
	// The customers, by the rows of their ids, in chunks of chunkSize rows,
	// so that growing copies nothing; a row of nobody has labels 0.
	chunks       [][]customer
	ids          ids.Table // the customers' ids, numbered by row
	labels       labels
	tiers, names intern
	// trait names, and the values of string traits (traitCell)
	traitNames, traitValues intern
	traits                  traitArena
	waterfalls              intern // waterfall segments
	// the version and time of the summaries held whose stamp overflows, by
	// row
	bigStamps map[int32]bigStampOf

	// the predictions of the last refresh (nil before any); dropped, the
	// rows removed while a refresh is under way (refreshing), which it
	// must not predict; refresh runs one at a time
	pred       *predictions
	refreshing bool
	dropped    []int32
	refresh    sync.Mutex

	// the buyers
	buyers     int64
	sumF       int64
	sumM       money.Sum
	fs, ms, ls rank.Histogram // F, M and last purchase (ms) of every buyer
}

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

// customer is a row: 80 bytes.
type customer struct {
	stamp       uint64 // of the summary held (stampOf)
	last        int64  // ms
	cycle       time.Duration
	m, lifetime int64 // micros
	repeat      int64 // micros spent on purchase days after the first
	orders, f   int32
	// purchase days, and the first's day number (since 1970-01-01 UTC):
	// with last and repeat, the prediction models' inputs
	days, first int32
	labels      uint32 // tier and tags; 0 for a row of nobody
	traits      uint32 // where their traits are (traitArena); 0 for none
	ntraits     uint8  // how many
}

// New returns an empty view; cfg sets the NES purchase cycle, and rules (nil
// for none) the tags that depend on time or the population, which the view
// evaluates at each question instead of taking them as last published.
func New(cfg nes.Config, rules *tag.Engine) *View { return newView(cfg, rules, nil) }

// NewFor returns an empty view of the customers of store: New with the
// store's NES configuration and rules, and its waterfall, which the view
// evaluates at each question if it can (liveWaterfall).
func NewFor(store *profile.Store) *View {
	return newView(store.NES(), store.Rules(), store.Waterfall())
}

func newView(cfg nes.Config, rules *tag.Engine, wf *waterfall.Engine) *View {
	v := &View{nes: cfg, bigStamps: map[int32]bigStampOf{}, labels: newLabels(), tiers: newIntern(), names: newIntern(), waterfalls: newIntern(), traitNames: newIntern(), traitValues: newIntern(), liveNames: map[string]int{}}
	if rules != nil {
		v.live = rules.Live()
		for i, l := range v.live {
			v.liveNames[l.Name] = i
		}
	}
	if wf != nil && liveWaterfall(wf, v.live) {
		v.wf = wf
	}
	return v
}

// Len is the number of customers.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.ids.Len()
}

// cust returns the customer of row.
func (v *View) cust(row int32) *customer { return &v.chunks[row>>chunkBits][row&(chunkSize-1)] }

// all yields every customer's row.
func (v *View) all() iter.Seq2[int32, *customer] {
	return func(yield func(int32, *customer) bool) {
		for i, chunk := range v.chunks {
			for j := range chunk {
				if c := &chunk[j]; c.labels != 0 && !yield(int32(i<<chunkBits|j), c) {
					return
				}
			}
		}
	}
}

// Put records the summaries that are at least as new as what the view holds
// of their customers (not older by profile.Summary.Newer): an older summary
// delivered late changes nothing, and one delivered again puts the same
// values. One as new replaces what is held because a summary read from the
// store while a batch was writing it (Load) carries the batch's version and
// time before the batch's tier and tags are written; the summary the batch
// publishes, which the view follows after the load, completes it. A summary
// of a customer who is Gone (erased, or merged into another) removes them.
func (v *View) Put(sums ...profile.Summary) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var tags []uint32
	for _, s := range sums {
		tags = v.put(s, tags[:0])
	}
	v.compactTraits()
}

// put records s, using tags as scratch space, which it returns.
func (v *View) put(s profile.Summary, tags []uint32) []uint32 {
	var traits traitsOf // the customer's held until now
	row, ok := v.ids.Find(s.Customer)
	if s.Gone {
		if ok {
			v.remove(row)
		}
		return tags
	}
	if ok {
		c := v.cust(row)
		version, at := v.stampAt(row, c)
		if (profile.Summary{Version: version, At: at}).Newer(s) {
			return tags
		}
		v.leave(c)
		v.labels.release(c.labels)
		traits = traitsOf{c.traits, c.ntraits}
	} else {
		row = v.newRow(s.Customer)
	}
	for _, t := range s.Tags {
		if _, live := v.liveNames[t]; !live {
			tags = append(tags, v.names.id(t))
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	c := v.cust(row)
	stamp, fits := stampOf(s.Version, s.At)
	if !fits {
		v.bigStamps[row] = bigStampOf{s.Version, s.At}
	} else if len(v.bigStamps) > 0 {
		delete(v.bigStamps, row)
	}
	*c = customer{
		stamp: stamp,
		last:  s.Last.UnixMilli(), cycle: v.nes.Cycle(s.Orders, s.First, s.Last),
		m: s.M, lifetime: s.Lifetime, orders: int32(s.Orders), f: int32(s.F),
		repeat: s.Repeat, days: int32(min(s.Days, math.MaxInt32)), first: dayOf(s.First, s.Days),
		labels: v.labels.hold(v.tiers.id(s.Tier), v.waterfalls.id(s.Waterfall), tags),
	}
	c.traits, c.ntraits = v.holdTraits(traits, v.traitCells(s.Traits))
	if s.F >= 1 {
		if v.buyers == 0 {
			// The buckets of last purchases are narrowest near the origin:
			// put it at the present, where a shop's purchases gather, so
			// that a question gathers few of them.
			origin := s.At
			if origin.IsZero() {
				origin = s.Last
			}
			v.ls = rank.Histogram{Origin: origin.UnixMilli()}
		}
		v.join(c)
	}
	return tags
}

// remove forgets the customer of row.
func (v *View) remove(row int32) {
	c := v.cust(row)
	v.leave(c)
	v.labels.release(c.labels)
	v.releaseTraits(traitsOf{c.traits, c.ntraits})
	v.ids.Remove(row)
	delete(v.bigStamps, row)
	v.dropPrediction(row)
	*v.cust(row) = customer{}
}

// A stamp orders the summaries of a customer as profile.Summary.Newer does,
// in one number: the version above the time, which takes atBits: 0 for the
// zero time (a summary of a customer the store has not evaluated), else
// 1 + the Unix millisecond (until 2109). A stamp of a version or time that
// does not fit is bigStamp, and the view keeps the pair aside
// (View.bigStamps): versions count a customer's changes, and four million
// is a lot of them.
const (
	atBits   = 42
	bigStamp = math.MaxUint64
)

// bigStampOf is the version and time of a summary whose stamp overflows.
type bigStampOf struct {
	version int64
	at      time.Time
}

// stampOf returns the stamp of a summary of version at time at, and whether
// they fit in it.
func stampOf(version int64, at time.Time) (uint64, bool) {
	var a int64
	if !at.IsZero() {
		a = at.UnixMilli() + 1
	}
	if version < 0 || version >= 1<<(64-atBits)-1 || a < 0 || a >= 1<<atBits || a == 0 && !at.IsZero() {
		return bigStamp, false
	}
	return uint64(version)<<atBits | uint64(a), true
}

// stampAt returns the version and time (to the ms) of the summary held in
// row.
func (v *View) stampAt(row int32, c *customer) (version int64, at time.Time) {
	if c.stamp == bigStamp {
		b := v.bigStamps[row]
		return b.version, b.at
	}
	if a := int64(c.stamp & (1<<atBits - 1)); a > 0 {
		at = time.UnixMilli(a - 1)
	}
	return int64(c.stamp >> atBits), at
}

// newRow gives id, which the view does not hold, a row: the row of the
// customer removed last, if any, else one past the last.
func (v *View) newRow(id string) int32 {
	row := v.ids.Add(id)
	k, i := int(row>>chunkBits), int(row&(chunkSize-1))
	if k == len(v.chunks) {
		v.chunks = append(v.chunks, make([]customer, 0, chunkSize))
	}
	if i == len(v.chunks[k]) {
		v.chunks[k] = append(v.chunks[k], customer{})
	}
	return row
}

// join counts c, a buyer, in the population; leave takes it out if it was
// one.
func (v *View) join(c *customer) {
	v.buyers++
	v.sumF += int64(c.f)
	v.sumM = v.sumM.Add(money.Micros(c.m))
	v.fs.Insert(int64(c.f))
	v.ms.Insert(c.m)
	v.ls.Insert(c.last)
}

func (v *View) leave(c *customer) {
	if c.f < 1 {
		return
	}
	v.buyers--
	v.sumF -= int64(c.f)
	v.sumM = v.sumM.Sub(money.Micros(c.m))
	v.fs.Remove(int64(c.f))
	v.ms.Remove(c.m)
	v.ls.Remove(c.last)
}

// recency is R of a last purchase at T: the whole days from last to T, 0
// for a purchase after T (as the profile store counts them).
func recency(T, last int64) int64 { return population.Recency(T, last) }

// scoring holds what scores every buyer at one T.
type scoring struct {
	population.Scorer
	ns   int64        // T in ns, for stages
	pred *predictions // of the last refresh, nil before any
}

// scoring finds the order statistics at T: the thresholds' buckets from the
// histograms, then their values in one pass over the buyers.
func (v *View) scoring(T time.Time) scoring {
	t := T.UnixMilli()
	n := v.buyers
	p := rfm.Population{Buyers: n, SumF: v.sumF, SumM: v.sumM}
	if n == 0 {
		return scoring{Scorer: population.NewScorer(t, p, [4]int64{}, [4]int64{}, [4]int64{}), ns: T.UnixNano(), pred: v.pred}
	}
	var ranks [4]int
	for q := 2; q <= 5; q++ {
		ranks[q-2] = population.Rank(q, n)
	}
	fs, ms, ls := v.fs.Select(ranks[:]...), v.ms.Select(ranks[:]...), v.ls.Select(ranks[:]...)
	for _, c := range v.all() {
		if c.f < 1 {
			continue
		}
		p.SumR += recency(t, c.last)
		fs.Offer(int64(c.f))
		ms.Offer(c.m)
		ls.Offer(c.last)
	}
	var f, m, r [4]int64
	fv, mv, lv := fs.Values(), ms.Values(), ls.Values()
	for i := range 4 {
		f[i], m[i], r[i] = fv[i], mv[i], recency(t, lv[i])
	}
	return scoring{Scorer: population.NewScorer(t, p, f, m, r), ns: T.UnixNano(), pred: v.pred}
}

// Scorer scores buyers at T against the view's population (for
// profile.Store.GetAgainst). It reads every buyer once.
func (v *View) Scorer(T time.Time) population.Scorer {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.scoring(T).Scorer
}

// scores returns the scores of a buyer with values r, f, m.
func (sc *scoring) scores(r, f, m int64) rfm.Scores {
	return sc.Score(rfm.Values{R: int(r), F: int(f), M: m})
}

func (sc *scoring) rScore(r int64) int { return sc.RScore(r) }

func (sc *scoring) segmentIndex(r, f, m int64) int { return sc.SegmentIndex(r, f, m) }

// Scores returns customer id's RFM values and scores as of T, and whether
// the view holds id. A customer who is not a buyer has zero scores. It reads
// every buyer once (the order statistics at T).
func (v *View) Scores(id string, T time.Time) (rfm.Values, rfm.Scores, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	row, ok := v.ids.Find(id)
	if !ok {
		return rfm.Values{}, rfm.Scores{}, false
	}
	c := v.cust(row)
	vals := rfm.Values{F: int(c.f), M: c.m}
	if vals.F < 1 {
		return vals, rfm.Scores{}, true
	}
	sc := v.scoring(T)
	vals.R = int(recency(sc.T, c.last))
	return vals, sc.scores(int64(vals.R), int64(vals.F), vals.M), true
}

// Counts are the population's counts at one time.
type Counts struct {
	At     time.Time
	Buyers int64
	// Segments counts buyers in each of the 8 RFM segments.
	Segments map[string]int64
	// Grid counts buyers by R score (rows) and F score (columns):
	// Grid[r-1][f-1].
	Grid   [5][5]int64
	Stages map[nes.Stage]int64
	Tiers  map[string]int64
	Tags   map[string]int64
	// Waterfall counts customers in each waterfall segment, as of their
	// last evaluation.
	Waterfall map[string]int64
}

// Counts counts every customer as of T. It reads each customer once, and
// scores a buyer with a few comparisons against thresholds read once.
func (v *View) Counts(T time.Time) Counts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	sc := v.scoring(T)
	var segments [8]int64
	var stages [6]int64
	var grid [5][5]int64
	labels := make([]int64, len(v.labels.sets))
	live := v.newLiveTags()
	liveCounts := make([]int64, len(v.live))
	waterfalls := map[string]int64{}
	for idx, c := range v.all() {
		x := rowOf(&sc, idx, c)
		stages[nes.Index(x.Stage())]++
		labels[c.labels]++
		if v.wf != nil {
			waterfalls[live.waterfall(&x)]++
		}
		for i := range v.live {
			if live.holds(i, &x) {
				liveCounts[i]++
			}
		}
		if c.f < 1 {
			continue
		}
		segments[x.Segment()]++
		grid[sc.rScore(x.R())-1][sc.FScore(int64(c.f))-1]++
	}
	out := Counts{At: T, Buyers: v.buyers, Grid: grid, Segments: make(map[string]int64, len(rfm.Segments)), Stages: make(map[nes.Stage]int64, len(nes.Stages))}
	for i, s := range rfm.Segments {
		out.Segments[s] = segments[i]
	}
	for i, st := range nes.Stages {
		if stages[i] > 0 {
			out.Stages[st] = stages[i]
		}
	}
	tiers := make([]int64, v.tiers.len())
	tags := make([]int64, v.names.len())
	published := make([]int64, v.waterfalls.len())
	for id, n := range labels {
		set := &v.labels.sets[id]
		tiers[set.tier] += n
		published[set.waterfall] += n
		for _, t := range set.tags {
			tags[t] += n
		}
	}
	out.Tiers = v.tiers.counts(tiers)
	out.Tags = v.names.counts(tags)
	out.Waterfall = v.waterfalls.counts(published)
	if v.wf != nil {
		out.Waterfall = waterfalls
	}
	for i, l := range v.live {
		if liveCounts[i] > 0 {
			out.Tags[l.Name] = liveCounts[i]
		}
	}
	return out
}

// row is what a question may ask of one customer at T, each part worked
// out when first asked.
type row struct {
	sc      *scoring
	idx     int32 // c's row, -1 if unknown
	c       *customer
	have    uint8 // of the parts below
	stage   nes.Stage
	r       int64      // R, for a customer with orders
	scores  rfm.Scores // zero for a non-buyer
	segment int        // index into rfm.Segments; -1 for a non-buyer
}

const (
	haveStage = 1 << iota
	haveR
	haveScores
	haveSegment
)

// rowOf returns customer c, of row idx (-1 if unknown), at the scoring's T.
func rowOf(sc *scoring, idx int32, c *customer) row { return row{sc: sc, idx: idx, c: c} }

func (x *row) Stage() nes.Stage {
	if x.have&haveStage == 0 {
		x.stage = nes.StageOf(int(x.c.orders), x.c.cycle, time.Duration(x.sc.ns-x.c.last*1e6))
		x.have |= haveStage
	}
	return x.stage
}

func (x *row) R() int64 {
	if x.have&haveR == 0 {
		if x.c.orders > 0 {
			x.r = recency(x.sc.T, x.c.last)
		}
		x.have |= haveR
	}
	return x.r
}

func (x *row) Scores() rfm.Scores {
	if x.have&haveScores == 0 {
		if x.c.f >= 1 {
			x.scores = x.sc.scores(x.R(), int64(x.c.f), x.c.m)
		}
		x.have |= haveScores
	}
	return x.scores
}

func (x *row) Segment() int {
	if x.have&haveSegment == 0 {
		x.segment = -1
		if x.c.f >= 1 {
			x.segment = x.sc.segmentIndex(x.R(), int64(x.c.f), x.c.m)
		}
		x.have |= haveSegment
	}
	return x.segment
}

// liveTags evaluates the live tag rules of customers at one T, keeping each
// rule's outcome by what it reads (tag.Live.Key), so that rules over stages
// and scores cost a lookup a customer.
type liveTags struct {
	v    *View
	memo []map[[10]int64]bool
	// waterfall segments, by what they depend on (waterfallKey)
	segments map[waterfallKey]string
}

func (v *View) newLiveTags() *liveTags {
	l := &liveTags{v: v, memo: make([]map[[10]int64]bool, len(v.live)), segments: map[waterfallKey]string{}}
	for i := range l.memo {
		l.memo[i] = map[[10]int64]bool{}
	}
	return l
}

// holds tells whether live rule i holds for customer x. A rule that fails
// (it cannot on the values a view holds) does not.
func (l *liveTags) holds(i int, x *row) bool {
	v, in := l.v, inputOf(x)
	k := v.live[i].Key(in)
	ok, seen := l.memo[i][k]
	if !seen {
		ok, _ = v.live[i].Eval(in)
		l.memo[i][k] = ok
	}
	return ok
}

// inputOf is what rules see of customer x at T: what the view holds.
func inputOf(x *row) tag.Input {
	c, scores := x.c, x.Scores()
	in := tag.Input{
		Stage: string(x.Stage()), R: int(x.R()), F: int(c.f), M: c.m,
		RScore: scores.R, FScore: scores.F, MScore: scores.M, Segment: scores.Segment,
		Orders: int(c.orders), Lifetime: c.lifetime,
	}
	if scores.Segment == "" {
		in.F, in.M = 0, 0
	}
	return in
}

// intern numbers strings, so that a column holds a small number per row.
type intern struct {
	ids   map[string]uint32
	names []string
}

func newIntern() intern { return intern{ids: map[string]uint32{"": 0}, names: []string{""}} }

func (in *intern) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

func (in *intern) len() int { return len(in.names) }

// counts maps each name but "" with a count above 0 to its count.
func (in *intern) counts(n []int64) map[string]int64 {
	out := map[string]int64{}
	for id, c := range n {
		if c > 0 && in.names[id] != "" {
			out[in.names[id]] = c
		}
	}
	return out
}
