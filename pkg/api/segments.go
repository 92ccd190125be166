package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
)

// stages are the NES stages, in lifecycle order.
var stages = []string{string(nes.Prospect), string(nes.New), string(nes.Active), string(nes.Dozing), string(nes.HalfAsleep), string(nes.DeepAsleep)}

// scored is the population at T, scored as profiles are.
type scored struct {
	T        time.Time
	buyers   []string // sorted
	scores   map[string]rfm.Scores
	segments map[string]audience.Set
}

// population reads and scores the population at T: rfm.Compute on the values
// the store scores every profile against gives each buyer the scores and
// segment Get gives them.
func (ns namespace) population(ctx context.Context, T time.Time) (*scored, error) {
	buyers, err := ns.store.Population(ctx, T)
	if err != nil {
		return nil, err
	}
	vs := make([]rfm.Values, len(buyers))
	for i, b := range buyers {
		vs[i] = b.Values
	}
	sc, _ := rfm.Compute(vs)
	p := &scored{T: T, scores: make(map[string]rfm.Scores, len(buyers)), segments: map[string]audience.Set{}}
	for i, b := range buyers {
		p.buyers = append(p.buyers, b.Customer)
		p.scores[b.Customer] = sc[i]
	}
	slices.Sort(p.buyers)
	for _, c := range p.buyers {
		seg := p.scores[c].Segment
		p.segments[seg] = append(p.segments[seg], c)
	}
	return p, nil
}

// Counts is the answer of GET /v1/counts.
type Counts struct {
	At     time.Time `json:"at"`
	Buyers int       `json:"buyers"`
	// Segments counts buyers in each of the 8 RFM segments.
	Segments map[string]int `json:"segments"`
	// Grid counts buyers by R score (rows, 1–5) and F score (columns, 1–5):
	// Grid[r-1][f-1].
	Grid   [5][5]int        `json:"grid"`
	Stages map[string]int64 `json:"stages"`
	Tiers  map[string]int64 `json:"tiers"`
	Tags   map[string]int64 `json:"tags"`
}

func (s *Server) getCounts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name, err := profile.LiveNamespace(ctx, s.rdb, s.store.Prefix())
	if err != nil {
		return err
	}
	v, err := s.cfg.Views.Of(ctx, name)
	if err != nil {
		return fmt.Errorf("population view of %s: %w", name, err)
	}
	c := v.Counts(s.cfg.Now().UTC())
	out := Counts{At: c.At, Buyers: int(c.Buyers), Segments: map[string]int{}, Stages: map[string]int64{}, Tiers: c.Tiers, Tags: c.Tags}
	for seg, n := range c.Segments {
		out.Segments[seg] = int(n)
	}
	for r := range c.Grid {
		for f, n := range c.Grid[r] {
			out.Grid[r][f] = int(n)
		}
	}
	for _, st := range nes.Stages {
		out.Stages[string(st)] = c.Stages[st]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Members is a page of GET /v1/members.
type Members struct {
	Query      string    `json:"query"`
	At         time.Time `json:"at"`
	Total      int       `json:"total"`
	Members    []string  `json:"members"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

func (s *Server) getSegmentMembers(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("segment")
	if !slices.Contains(rfm.Segments, seg) {
		return fmt.Errorf("segment %q: %w", seg, errNotFound)
	}
	return s.members(w, r, "segment:"+seg)
}

func (s *Server) getMembers(w http.ResponseWriter, r *http.Request) error {
	return s.members(w, r, r.URL.Query().Get("q"))
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, q string) error {
	expr, err := audience.Parse(q)
	if err != nil {
		var se *audience.SyntaxError
		if errors.As(err, &se) {
			return &badRequest{msg: "q: " + se.Error(), pos: se.Pos}
		}
		return err
	}
	query := r.URL.Query()
	limit, csvOut := 100, query.Get("format") == "csv"
	if csvOut {
		limit = 0 // the whole audience unless a page is asked for
	}
	if v := query.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > s.cfg.MaxPage {
			return badf("limit must be 1 to %d", s.cfg.MaxPage)
		}
	}
	ctx := r.Context()
	ns, err := s.live(ctx)
	if err != nil {
		return err
	}
	p, set, err := s.evaluate(ctx, ns, expr)
	if err != nil {
		return err
	}
	page, next := set, ""
	if limit > 0 || query.Get("cursor") != "" {
		if limit == 0 {
			limit = len(set)
		}
		page, next = set.After(query.Get("cursor"), limit)
	}
	if !csvOut {
		writeJSON(w, http.StatusOK, Members{Query: expr.String(), At: p.T, Total: len(set), Members: append([]string{}, page...), NextCursor: next})
		return nil
	}
	ltv, err := ns.store.Lifetimes(ctx, page)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audience.csv"`)
	if next != "" {
		w.Header().Set("X-Next-Cursor", next)
	}
	cw := &csvWriter{w: w}
	cw.row("customer_id", "segment", "clv")
	cur := ns.store.Currency()
	for i, c := range page {
		cw.row(c, p.scores[c].Segment, money.Format(money.Micros(ltv[i]), cur))
	}
	return cw.err
}

// evaluate returns the members of expr in ns at the API's time, sorted. Names are
// resolved as: segment:<s> or a segment name (the population at T);
// r_score:<n>, f_score:<n>, m_score:<n>; stage:<s> or a stage name; tier:<t>;
// tag:<t>; any other name is a tag, or else a tier. NOT is taken among every
// customer known: the buyers and the customers indexed.
func (s *Server) evaluate(ctx context.Context, ns namespace, expr audience.Expr) (*scored, audience.Set, error) {
	p, err := ns.population(ctx, s.cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	universe, err := ns.customers(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	sets := map[string]audience.Set{}
	for _, name := range audience.Names(expr) {
		if sets[name], err = ns.resolve(ctx, p, name); err != nil {
			return nil, nil, err
		}
	}
	return p, audience.Eval(expr, sets, universe), nil
}

func (ns namespace) resolve(ctx context.Context, p *scored, name string) (audience.Set, error) {
	kind, rest, _ := strings.Cut(name, ":")
	switch {
	case kind == "segment":
		return p.segments[rest], nil
	case slices.Contains(rfm.Segments, name):
		return p.segments[name], nil
	case kind == "r_score" || kind == "f_score" || kind == "m_score":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > 5 {
			return nil, badf("%s: a score is 1 to 5", name)
		}
		var out audience.Set
		for _, c := range p.buyers {
			sc := p.scores[c]
			if map[string]int{"r_score": sc.R, "f_score": sc.F, "m_score": sc.M}[kind] == n {
				out = append(out, c)
			}
		}
		return out, nil
	case kind == "stage":
		return ns.index.Members(ctx, index.Stage, rest)
	case slices.Contains(stages, name):
		return ns.index.Members(ctx, index.Stage, name)
	case kind == "tier":
		return ns.known(ctx, name, index.Tier, rest)
	case kind == "tag":
		return ns.known(ctx, name, index.Tag, rest)
	}
	m, err := ns.index.Members(ctx, index.Tag, name)
	if err != nil || len(m) > 0 {
		return m, err
	}
	if ok, err := ns.index.Known(ctx, index.Tag, name); err != nil || ok {
		return nil, err
	}
	return ns.known(ctx, name, index.Tier, name)
}

// known returns the members of kind:name, or a bad request naming name if
// no customer was ever indexed with it: a typo must not export an empty
// audience.
func (ns namespace) known(ctx context.Context, asked, kind, name string) (audience.Set, error) {
	ok, err := ns.index.Known(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badf("q: unknown name %q: not a segment, stage, score, tier or tag", asked)
	}
	return ns.index.Members(ctx, kind, name)
}
