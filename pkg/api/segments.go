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
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/view"
	"github.com/segflow/segflow/pkg/waterfall"
)

// stages are the NES stages, in lifecycle order.
var stages = []string{string(nes.Prospect), string(nes.New), string(nes.Active), string(nes.Dozing), string(nes.HalfAsleep), string(nes.DeepAsleep)}

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
	// Waterfall counts customers in each waterfall segment (every segment
	// of the waterfall, 0 for an empty one); absent without a waterfall.
	Waterfall map[string]int64 `json:"waterfall,omitempty"`
}

func (s *Server) getCounts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	v, ns, err := s.view(ctx)
	if err != nil {
		return err
	}
	c := v.Counts(s.cfg.Now().UTC())
	out := Counts{At: c.At, Buyers: int(c.Buyers), Segments: map[string]int{}, Stages: map[string]int64{}, Tiers: c.Tiers, Tags: c.Tags}
	if len(c.Waterfall) > 0 || ns.store.Waterfall() != nil {
		out.Waterfall = c.Waterfall
		if wf := ns.store.Waterfall(); wf != nil {
			for _, name := range wf.Names() {
				out.Waterfall[name] += 0
			}
		}
	}
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
	// PredictionsAsOf is the time the predictions the query selects by
	// (pclv_decile, p_alive) are as of; absent if it selects by none.
	PredictionsAsOf *time.Time `json:"predictions_as_of,omitempty"`
}

func (s *Server) getSegmentMembers(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("segment")
	if !slices.Contains(rfm.Segments, seg) {
		return fmt.Errorf("segment %q: %w", seg, errNotFound)
	}
	return s.members(w, r, "segment:"+seg)
}

// getWaterfallMembers answers the members of a waterfall segment
// (knownWaterfall).
func (s *Server) getWaterfallMembers(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("segment")
	v, ns, err := s.view(r.Context())
	if err != nil {
		return err
	}
	if !knownWaterfall(v, ns.store.Waterfall(), seg) {
		return fmt.Errorf("waterfall segment %q: %w", seg, errNotFound)
	}
	return s.members(w, r, "waterfall:"+seg)
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
	v, ns, err := s.view(ctx)
	if err != nil {
		return err
	}
	attrs, err := attrsOf(v, expr, ns.store.Waterfall())
	if err != nil {
		return err
	}
	var asOf *time.Time
	for _, a := range attrs {
		if a.Kind == view.KindPCLVDecile || a.Kind == view.KindPAlive {
			_, at, _ := v.PredictedAt()
			asOf = &at
		}
	}
	page := v.Members(s.cfg.Now().UTC(), expr, attrs, query.Get("cursor"), limit)
	if !csvOut {
		ids := make([]string, len(page.Members))
		for i, m := range page.Members {
			ids[i] = m.ID
		}
		writeJSON(w, http.StatusOK, Members{Query: expr.String(), At: page.At, Total: page.Total, Members: ids, NextCursor: page.Next, PredictionsAsOf: asOf})
		return nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audience.csv"`)
	if page.Next != "" {
		w.Header().Set("X-Next-Cursor", page.Next)
	}
	cw := &csvWriter{w: w}
	cw.row("customer_id", "segment", "clv")
	cur := ns.store.Currency()
	for _, m := range page.Members {
		cw.row(m.ID, m.Segment, money.Format(money.Micros(m.Lifetime), cur))
	}
	return cw.err
}

// view returns the population view and the namespace live now.
func (s *Server) view(ctx context.Context) (*view.View, namespace, error) {
	ns, err := s.live(ctx)
	if err != nil {
		return nil, ns, err
	}
	v, err := s.cfg.Views.Of(ctx, ns.store.Prefix())
	if err != nil {
		return nil, ns, fmt.Errorf("population view of %s: %w", ns.store.Prefix(), err)
	}
	return v, ns, nil
}

// attrsOf gives each name of expr its meaning: segment:<s> or a segment
// name; r_score:<n>, f_score:<n>, m_score:<n>; stage:<s> or a stage name;
// tier:<t>; tag:<t>; waterfall:<w>, a segment of the waterfall wf (nil for
// none) or one a customer had; any other name is a tag, or else a tier. A
// name, or a trait compared, that means nothing any customer ever had is a
// bad request naming it: a typo must not export an empty audience.
func attrsOf(v *view.View, expr audience.Expr, wf *waterfall.Engine) (map[string]view.Attr, error) {
	out := map[string]view.Attr{}
	for _, name := range audience.Names(expr) {
		kind, rest, _ := strings.Cut(name, ":")
		var a view.Attr
		switch {
		case kind == "segment" && slices.Contains(rfm.Segments, rest):
			a = view.Attr{Kind: view.KindSegment, Value: rest}
		case slices.Contains(rfm.Segments, name):
			a = view.Attr{Kind: view.KindSegment, Value: name}
		case kind == "r_score" || kind == "f_score" || kind == "m_score":
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > 5 {
				return nil, badf("%s: a score is 1 to 5", name)
			}
			a = view.Attr{Kind: map[string]view.Kind{"r_score": view.KindRScore, "f_score": view.KindFScore, "m_score": view.KindMScore}[kind], Score: n}
		case kind == "stage" && slices.Contains(stages, rest):
			a = view.Attr{Kind: view.KindStage, Value: rest}
		case slices.Contains(stages, name):
			a = view.Attr{Kind: view.KindStage, Value: name}
		case kind == "tier" && v.Known(view.KindTier, rest):
			a = view.Attr{Kind: view.KindTier, Value: rest}
		case kind == "tag" && v.Known(view.KindTag, rest):
			a = view.Attr{Kind: view.KindTag, Value: rest}
		case kind == "waterfall" && knownWaterfall(v, wf, rest):
			a = view.Attr{Kind: view.KindWaterfall, Value: rest}
		case kind == "pclv_decile" || strings.HasPrefix(name, "p_alive"):
			p, err := predictionAttr(v, name)
			if err != nil {
				return nil, err
			}
			a = p
		case kind != "tier" && kind != "tag" && kind != "waterfall" && v.Known(view.KindTag, name):
			a = view.Attr{Kind: view.KindTag, Value: name}
		case kind != "tier" && kind != "tag" && kind != "waterfall" && v.Known(view.KindTier, name):
			a = view.Attr{Kind: view.KindTier, Value: name}
		default:
			return nil, badf("q: unknown name %q: not a segment, stage, score, tier, tag or waterfall segment", name)
		}
		out[name] = a
	}
	for _, c := range audience.Compares(expr) {
		if !v.Known(view.KindTrait, c.Trait) {
			return nil, badf("q: unknown trait %q: no customer has had it (contact traits such as email are not held)", c.Trait)
		}
	}
	return out, nil
}

// predictionAttr is the meaning of a name that selects by prediction:
// pclv_decile:<1..10>, a decile of predicted CLV among the customers with
// a purchase (10 the highest), or p_alive<op><number>, op one of = != < <=
// > >= and no spaces, such as p_alive<0.3. Without predictions (no fitted
// model) such a name is a bad request: it would select nobody.
func predictionAttr(v *view.View, name string) (view.Attr, error) {
	var a view.Attr
	if rest, ok := strings.CutPrefix(name, "pclv_decile:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > 10 {
			return a, badf("%s: a decile is 1 to 10", name)
		}
		a = view.Attr{Kind: view.KindPCLVDecile, Score: n}
	} else {
		rest := strings.TrimPrefix(name, "p_alive")
		for _, op := range []audience.Op{audience.Ne, audience.Le, audience.Ge, audience.Eq, audience.Lt, audience.Gt} {
			if num, ok := strings.CutPrefix(rest, string(op)); ok {
				x, err := strconv.ParseFloat(num, 64)
				if err != nil || !(x >= 0 && x <= 1) {
					return a, badf("%s: P(alive) compares with a number from 0 to 1", name)
				}
				a = view.Attr{Kind: view.KindPAlive, Op: op, Than: x}
				break
			}
		}
		if a.Kind == 0 {
			return a, badf("%s: write p_alive, an operator (= != < <= > >=) and a number, without spaces, such as p_alive<0.3", name)
		}
	}
	if _, _, ok := v.PredictedAt(); !ok {
		return a, badf("%s: no predictions: no model has been fitted (segflow fit), or the first predictions are still being made", name)
	}
	return a, nil
}

// knownWaterfall tells whether name is a segment of the waterfall wf (nil
// for none) or one a customer of v had.
func knownWaterfall(v *view.View, wf *waterfall.Engine, name string) bool {
	return v.Known(view.KindWaterfall, name) || wf != nil && slices.Contains(wf.Names(), name)
}
