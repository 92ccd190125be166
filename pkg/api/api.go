// Package api is segflow's read API: profiles, segment and tag counts,
// members of a segment or of an audience expression (with cursor pagination
// and CSV export), reporting metrics, campaign results, broadcasts of a
// campaign to an audience (pkg/broadcast; the trigger service runs them), and
// the privacy operations (erasure, consent). Every route but the OpenAPI
// document needs a Bearer token; a token's scope is read (the GET routes) or
// admin (also the privacy operations, and making and cancelling broadcasts),
// and a token without the scope a route needs is answered 403.
//
// Counts, audience members and CLV are read from the population view of the
// live namespace (pkg/view, Config.Views), which scores every customer at
// the request's time from the same inputs the profile store scores from: the
// segments, scores, stages and score-dependent tags it gives are those Get
// gives each customer at that time. No request reads the whole population
// from Redis; the repurchase rate reads each customer's orders of the
// period, and the NES history by day the segment index (pkg/index).
//
// Each request reads the namespace live when it starts (profile.LiveKey):
// the store, index and view of one namespace, so that after a switch
// (segflow replay --switch) the next request reads the new one.
//
// Members are listed in customer id order, and a page's cursor is the last
// id it returned: a customer who is a member for the whole listing is
// returned exactly once, however others join or leave meanwhile.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/health"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/view"
)

// Config configures a Server. Zero values mean defaults.
type Config struct {
	// Tokens maps each accepted Bearer token to its holder.
	Tokens map[string]Holder
	// Now is the clock profiles and segments are read at. Default time.Now.
	Now func() time.Time
	// Campaigns lists the campaigns whose results are reported. Nil reports
	// every campaign with recorded results.
	Campaigns func() []string
	// Journeys gives the journeys whose results are reported; nil reports none.
	Journeys func() *journey.Config
	// MaxPage is the largest page of members. Default 1000.
	MaxPage int
	// Views gives the population view of a namespace (pkg/view), which
	// counts and audiences are read from. Default view.FromStore: a view
	// loaded afresh per request, exact but a scan of every profile, for
	// tests and tools.
	Views Views
	// RetryAfter is what 503 answers, while Redis or Kafka is out of reach,
	// tell clients to wait. Default 5s.
	RetryAfter time.Duration
}

// Views gives the population view of a profile namespace.
type Views interface {
	Of(ctx context.Context, ns string) (*view.View, error)
}

// unavailableLogEvery is how often requests failing because a dependency is
// out of reach are logged at most: an outage fails every request.
const unavailableLogEvery = 10 * time.Second

// Scope is what a token may do.
type Scope string

const (
	// ScopeRead is every GET route.
	ScopeRead Scope = "read"
	// ScopeAdmin is every route: reads, and the privacy operations, erasure
	// and consent.
	ScopeAdmin Scope = "admin"
)

// allows tells whether a token of scope s may use a route that needs need.
func (s Scope) allows(need Scope) bool { return need != ScopeAdmin || s == ScopeAdmin }

// Holder is who holds a token: the name, which the erasure audit log records
// as the requester, and the scope; the zero Scope is ScopeRead.
type Holder struct {
	Name  string
	Scope Scope
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Results reads a campaign's results.
type Results interface {
	Results(ctx context.Context, campaign string) ([]trigger.Result, error)
}

// Server serves the read API.
type Server struct {
	cfg     Config
	tokens  [][32]byte
	holders []Holder
	store   *profile.Store
	index   *index.Index
	results Results
	erased  *privacy.Registry
	// broadcasts are the broadcasts POST /v1/broadcasts makes, which the
	// trigger service runs.
	broadcasts *broadcast.Store
	rdb        redis.UniversalClient
	out        Producer
	log        *zap.Logger

	mu     sync.Mutex
	spaces map[string]namespace // by name, those read so far

	unavailable health.Throttle // logs of requests failed by an outage

	validatorOnce sync.Once
	validator     *event.Validator
	validatorErr  error
}

// New returns a server reading store and ix in rdb, and the store and index
// of the live namespace once a switch names another. out receives the
// identify events that consent changes make; results reads campaign results.
func New(cfg Config, rdb redis.UniversalClient, store *profile.Store, ix *index.Index, results Results, out Producer, log *zap.Logger) (*Server, error) {
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("api: no tokens configured; every request would be refused")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = 1000
	}
	if cfg.Views == nil {
		cfg.Views = view.FromStore{Store: store, Now: cfg.Now}
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	s := &Server{unavailable: health.Throttle{Every: unavailableLogEvery}, cfg: cfg, store: store, index: ix, results: results, erased: privacy.New(rdb), broadcasts: broadcast.NewStore(rdb), rdb: rdb, out: out, log: log.Named("api"),
		spaces: map[string]namespace{store.Prefix(): {store: store, index: ix}}}
	for tok, h := range cfg.Tokens {
		if h.Scope == "" {
			h.Scope = ScopeRead
		}
		if h.Scope != ScopeRead && h.Scope != ScopeAdmin {
			return nil, fmt.Errorf("api: token of %q: unknown scope %q", h.Name, h.Scope)
		}
		s.tokens = append(s.tokens, sha256.Sum256([]byte(tok)))
		s.holders = append(s.holders, h)
	}
	return s, nil
}

// namespace is the profile store and the segment index of one namespace.
type namespace struct {
	store *profile.Store
	index *index.Index
}

// live returns the namespace live now: one read of profile.LiveKey.
func (s *Server) live(ctx context.Context) (namespace, error) {
	name, err := profile.LiveNamespace(ctx, s.rdb, s.store.Prefix())
	if err != nil {
		return namespace{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.spaces[name]
	if !ok {
		ns = namespace{store: s.store.In(name), index: s.index.In(name)}
		s.spaces[name] = ns
	}
	return ns, nil
}

// Routes lists the routes Register serves, as "METHOD path" patterns.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.pattern)
	}
	return out
}

type route struct {
	pattern string
	h       func(w http.ResponseWriter, r *http.Request) error
	open    bool  // served without a token
	scope   Scope // the scope a token needs; "" is ScopeRead
}

func (s *Server) routes() []route {
	return []route{
		{pattern: "GET /v1/openapi.json", h: serveOpenAPI, open: true},
		{pattern: "GET /v1/profiles/{id}", h: s.getProfile},
		{pattern: "DELETE /v1/profiles/{id}", h: s.deleteProfile, scope: ScopeAdmin},
		{pattern: "PUT /v1/profiles/{id}/consent", h: s.putConsent, scope: ScopeAdmin},
		{pattern: "GET /v1/counts", h: s.getCounts},
		{pattern: "GET /v1/traits/{name}/counts", h: s.getTraitCounts},
		{pattern: "GET /v1/members", h: s.getMembers},
		{pattern: "GET /v1/segments/{segment}/members", h: s.getSegmentMembers},
		{pattern: "GET /v1/waterfall/{segment}/members", h: s.getWaterfallMembers},
		{pattern: "GET /v1/metrics/clv", h: s.getCLV},
		{pattern: "GET /v1/metrics/repurchase", h: s.getRepurchase},
		{pattern: "GET /v1/metrics/nes", h: s.getNES},
		{pattern: "GET /v1/campaigns", h: s.getCampaigns},
		{pattern: "POST /v1/broadcasts", h: s.postBroadcast, scope: ScopeAdmin},
		{pattern: "GET /v1/broadcasts", h: s.getBroadcasts},
		{pattern: "GET /v1/broadcasts/{id}", h: s.getBroadcast},
		{pattern: "DELETE /v1/broadcasts/{id}", h: s.deleteBroadcast, scope: ScopeAdmin},
		{pattern: "GET /v1/journeys", h: s.getJourneys},
	}
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	for _, r := range s.routes() {
		h := r.h
		if r.open {
			mux.Handle(r.pattern, s.handle(h))
			continue
		}
		need := r.scope
		if need == "" {
			need = ScopeRead
		}
		mux.Handle(r.pattern, s.handle(func(w http.ResponseWriter, req *http.Request) error {
			who, ok := s.authorize(req)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="segflow"`)
				return errUnauthorized
			}
			if !who.Scope.allows(need) {
				return fmt.Errorf("%w: %s needs a token with the %s scope; this token has %s", errForbidden, r.pattern, need, who.Scope)
			}
			return h(w, req.WithContext(context.WithValue(req.Context(), requesterKey{}, who.Name)))
		}))
	}
}

type requesterKey struct{}

func requester(ctx context.Context) string { s, _ := ctx.Value(requesterKey{}).(string); return s }

// authorize returns the holder of the request's token, and whether it is
// one. Every configured token is compared, in constant time, so the
// answer's timing tells nothing about which tokens exist.
func (s *Server) authorize(r *http.Request) (Holder, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return Holder{}, false
	}
	tok := strings.TrimSpace(h[7:])
	if tok == "" {
		return Holder{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	var who Holder
	ok := false
	for i, t := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], t[:]) == 1 {
			who, ok = s.holders[i], true
		}
	}
	return who, ok
}

// Errors the HTTP layer maps to status codes.
var (
	errUnauthorized = errors.New("a valid Bearer token is required")
	errForbidden    = errors.New("forbidden")
	errNotFound     = errors.New("not found")
	errBadRequest   = errors.New("bad request")
	errConflict     = errors.New("conflict")
)

// badRequest is a request the client can fix, with where the problem is.
type badRequest struct {
	msg string
	pos int // byte offset in an expression, or -1
	// fields, if set, has a message per field of a body at fault.
	fields map[string]string
}

func (e *badRequest) Error() string { return e.msg }
func (e *badRequest) Unwrap() error { return errBadRequest }

func badf(format string, a ...any) error { return &badRequest{msg: fmt.Sprintf(format, a...), pos: -1} }

func (s *Server) handle(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		body := map[string]any{"error": err.Error()}
		status := http.StatusInternalServerError
		var br *badRequest
		switch {
		case errors.Is(err, errUnauthorized):
			status = http.StatusUnauthorized
		case errors.Is(err, errForbidden):
			status = http.StatusForbidden
		case errors.Is(err, errNotFound):
			status = http.StatusNotFound
		case errors.As(err, &br):
			status = http.StatusBadRequest
			if br.pos >= 0 {
				body["position"] = br.pos
			}
			if br.fields != nil {
				body["fields"] = br.fields
			}
		case errors.Is(err, errConflict):
			status = http.StatusConflict
		case r.Context().Err() != nil:
			return // the client went away
		case stream.Unavailable(err):
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds()+0.5)))
			body["error"] = "temporarily unavailable"
			if held, ok := s.unavailable.Allow("unavailable", time.Now()); ok {
				s.log.Warn("request failed: a dependency is out of reach", zap.String("route", r.Pattern),
					zap.Int("failures_not_logged", held), zap.Error(err))
			}
		default:
			s.log.Error("request failed", zap.String("route", r.Pattern), zap.Error(err))
			body["error"] = "internal error"
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
