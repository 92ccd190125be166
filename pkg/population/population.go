// Package population keeps the RFM population of a profile namespace in
// memory: each customer's entry as of their last evaluation (profile
// version, evaluation time, F and M in the window, last purchase), and the
// order statistics and sums of the buyers (F ≥ 1) among them, from which
// any buyer's quintile scores and segment at any time T follow exactly.
//
// Every process that scores customers — each profile-updater, each read-API
// replica — holds one per namespace, loaded from the store at start and kept
// current from the summaries topic (the GlobalKTable pattern), so scoring
// asks Redis nothing and no Redis key holds the whole population.
//
// # Exactness
//
// Scores are quintiles among the buyers at T (docs/segmentation.md): a
// buyer's F score is 1 + #{s ∈ 2..5 : b ≥ k_s}, where b is the number of
// buyers with a smaller F and k_s = ⌈(s−1)·n/5⌉ for n buyers, and b ≥ k
// exactly when the value of rank k−1 is smaller than the buyer's; so four
// thresholds, read once per T, score every buyer. M likewise. R = ⌊(T −
// last)/24h⌋ (0 for a purchase after T) is monotone in the last purchase,
// so the same thresholds taken from the last purchases score R. The segment
// compares with the means: ΣF and ΣM are kept as entries change; ΣR at T is
// n·D_T − ΣD − #{t > t_T}, with D the day and t the time of day of each last
// purchase (less the negative days of the few purchases after T).
//
// # Cost
//
// Put and Remove cost a few microseconds (pkg/rank); a Scorer costs a few
// microseconds to make and scores a buyer in nanoseconds. The customers'
// ids are numbered by row in a table with no pointer per customer
// (pkg/ids: the id's bytes, a 4-byte offset and 5 to 11 bytes of index)
// and the entries kept by row, 40 bytes each, so that the garbage
// collector does not visit a population's customers in each of its
// cycles. With the order statistics (32 bytes per buyer) that is 117
// bytes per customer at 1M customers of whom three quarters are buyers,
// against 150 for the entries alone in a map[string]Entry, and a full
// collection while it is held takes 2.8–3.4 ms against 57–58 ms with the
// map (0.7–1.0 ms holding nothing; BenchmarkHeld). Ten times that, at 10M
// customers: about 1.2 GB, and some 25 ms of each collection's work
// against some 0.6 s.
package population

import (
	"sync"
	"time"

	"github.com/segflow/segflow/pkg/ids"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/rank"
	"github.com/segflow/segflow/pkg/rfm"
)

const day = int64(24 * time.Hour / time.Millisecond)

// Entry is a customer's place in the population: their F and M in the RFM
// window and their last purchase, as of their evaluation at At.
type Entry struct {
	// Version is the profile version evaluated; with At it orders entries
	// (Newer).
	Version int64
	At      int64 // ms
	F       int
	M       int64 // micros, from 0 to money.MaxSum
	Last    int64 // ms; meaningful for buyers
}

// Newer tells whether e is newer than o: a higher profile version, or the
// same version evaluated later.
func (e Entry) Newer(o Entry) bool {
	if e.Version != o.Version {
		return e.Version > o.Version
	}
	return e.At > o.At
}

// Stats are the order statistics and sums of a population's buyers, without
// their ids. The zero value is empty and ready to use; Stats are not safe
// for concurrent use.
type Stats struct {
	buyers     int64
	sumF, sumD int64
	sumM       money.Sum
	fs, ms, ls rank.Set // F, M and last purchase of every buyer
	timesOfDay rank.Set // time of day of every buyer's last purchase
}

// Buyers is the number of buyers.
func (s *Stats) Buyers() int64 { return s.buyers }

// Join counts a buyer with these values; Leave takes one out. Entries that
// are not buyers (F < 1) are ignored by both.
func (s *Stats) Join(e Entry) {
	if e.F < 1 {
		return
	}
	s.buyers++
	s.sumF += int64(e.F)
	s.sumM = s.sumM.Add(money.Micros(e.M))
	d, t := dayOf(e.Last)
	s.sumD += d
	s.fs.Insert(int64(e.F))
	s.ms.Insert(e.M)
	s.ls.Insert(e.Last)
	s.timesOfDay.Insert(t)
}

// Leave takes out a buyer Join counted with the same values.
func (s *Stats) Leave(e Entry) {
	if e.F < 1 {
		return
	}
	s.buyers--
	s.sumF -= int64(e.F)
	s.sumM = s.sumM.Sub(money.Micros(e.M))
	d, t := dayOf(e.Last)
	s.sumD -= d
	s.fs.Remove(int64(e.F))
	s.ms.Remove(e.M)
	s.ls.Remove(e.Last)
	s.timesOfDay.Remove(t)
}

// dayOf splits a Unix millisecond into its day and time of day, flooring
// (so that times before 1970 split the same way).
func dayOf(ms int64) (d, t int64) {
	d, t = ms/day, ms%day
	if t < 0 {
		d, t = d-1, t+day
	}
	return d, t
}

// Recency is R at T (ms) of a last purchase at last: the whole days from
// last to T, 0 for a purchase after T.
func Recency(T, last int64) int64 {
	d, _ := dayOf(T - last)
	return max(d, 0)
}

// Scorer scores buyers at one T against the population as it was when the
// Scorer was made.
type Scorer struct {
	T          int64 // ms
	Population rfm.Population
	// thresholds for scores 2..5: a buyer scores 1 + the number of them
	// their value passes.
	f, m, r [4]int64
	// the means as thresholds: R is high if R ≤ rHigh (R·n ≤ ΣR), F if
	// F ≥ fHigh (F·n ≥ ΣF), M if M ≥ mHigh (M·n ≥ ΣM).
	rHigh, fHigh, mHigh int64
}

// Scorer returns the scorer of the buyers at T.
func (s *Stats) Scorer(T time.Time) Scorer {
	t := T.UnixMilli()
	n := s.buyers
	p := rfm.Population{Buyers: n, SumF: s.sumF, SumM: s.sumM}
	if n == 0 {
		return NewScorer(t, p, [4]int64{}, [4]int64{}, [4]int64{})
	}
	dT, tT := dayOf(t)
	p.SumR = n*dT - s.sumD - int64(s.timesOfDay.Len()-s.timesOfDay.AtMost(tT))
	// That counts a purchase after T as negative days; it counts 0. There
	// are few: event times are at most a day or so ahead of receipt.
	for k := s.ls.AtMost(t); k < int(n); k++ {
		d, _ := dayOf(t - s.ls.Select(k))
		p.SumR -= d
	}
	var f, m, r [4]int64
	for q := 2; q <= 5; q++ {
		k := Rank(q, n)
		f[q-2], m[q-2], r[q-2] = s.fs.Select(k), s.ms.Select(k), Recency(t, s.ls.Select(k))
	}
	return NewScorer(t, p, f, m, r)
}

// Rank is the rank (0 is the smallest) of the value that a buyer's value
// must pass for score q (2..5) among n buyers: ⌈(q−1)·n/5⌉ − 1.
func Rank(q int, n int64) int { return int((int64(q-1)*n+4)/5) - 1 }

// NewScorer returns the scorer at T (ms) of a population p whose buyers'
// F, M and R at ranks Rank(2..5) are f, m and r: for holders of the order
// statistics other than Stats (pkg/view).
func NewScorer(T int64, p rfm.Population, f, m, r [4]int64) Scorer {
	sc := Scorer{T: T, Population: p, f: f, m: m, r: r}
	if n := p.Buyers; n > 0 {
		sc.rHigh = floorDiv(p.SumR, n)
		sc.fHigh = ceilDiv(p.SumF, n)
		sc.mHigh = int64(p.SumM.CeilDiv(n))
	}
	return sc
}

// Score returns the scores and segment of a customer with values v; a
// customer who is not a buyer, or a population without buyers, scores
// zero.
func (sc *Scorer) Score(v rfm.Values) rfm.Scores {
	if !v.Buyer() || sc.Population.Buyers == 0 {
		return rfm.Scores{}
	}
	r, f, m := int64(v.R), int64(v.F), v.M
	return rfm.Scores{R: sc.RScore(r), F: sc.FScore(f), M: sc.MScore(m), Segment: rfm.Segments[sc.SegmentIndex(r, f, m)]}
}

// RScore, FScore and MScore are a buyer's scores: 1 + the number of
// thresholds passed (a smaller R passes).
func (sc *Scorer) RScore(r int64) int {
	n := 1
	for _, t := range sc.r {
		if r < t {
			n++
		}
	}
	return n
}

func (sc *Scorer) FScore(f int64) int { return above(&sc.f, f) }

func (sc *Scorer) MScore(m int64) int { return above(&sc.m, m) }

func above(th *[4]int64, x int64) int {
	n := 1
	for _, t := range th {
		if x > t {
			n++
		}
	}
	return n
}

// SegmentIndex is rfm.Segment with the means read once: an index into
// rfm.Segments, ordered M, then R, then F, each high before low.
func (sc *Scorer) SegmentIndex(r, f, m int64) int {
	i := 0
	if m < sc.mHigh {
		i += 4
	}
	if r > sc.rHigh {
		i += 2
	}
	if f < sc.fHigh {
		i++
	}
	return i
}

// floorDiv and ceilDiv divide by n > 0, rounding down and up.
func floorDiv(a, n int64) int64 {
	q := a / n
	if a%n != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, n int64) int64 { return -floorDiv(-a, n) }

// Set is a population: each customer's entry and the buyers' Stats. It is
// safe for concurrent use.
type Set struct {
	mu      sync.RWMutex
	rows    ids.Table // the customers, numbered by row
	entries []Entry   // by row
	stats   Stats
}

// New returns an empty population.
func New() *Set { return &Set{} }

// Put records e as customer's entry if it is newer than the one held
// (Entry.Newer), so that an entry delivered again or late changes nothing,
// and tells whether it did.
func (s *Set) Put(customer string, e Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.rows.Find(customer)
	if !ok {
		if row = s.rows.Add(customer); int(row) == len(s.entries) {
			s.entries = append(s.entries, Entry{})
		}
	} else if old := s.entries[row]; e.Newer(old) {
		s.stats.Leave(old)
	} else {
		return false
	}
	s.entries[row] = e
	s.stats.Join(e)
	return true
}

// Remove forgets customer (erased, or merged into another).
func (s *Set) Remove(customer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if row, ok := s.rows.Find(customer); ok {
		s.stats.Leave(s.entries[row])
		s.rows.Remove(row)
	}
}

// Get returns customer's entry.
func (s *Set) Get(customer string) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if row, ok := s.rows.Find(customer); ok {
		return s.entries[row], true
	}
	return Entry{}, false
}

// Len is the number of customers.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rows.Len()
}

// Scorer returns the scorer of the buyers at T.
func (s *Set) Scorer(T time.Time) Scorer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats.Scorer(T)
}
