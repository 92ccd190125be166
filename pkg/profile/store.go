package profile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/waterfall"
)

// Config configures a Store. Zero values mean the defaults of
// docs/segmentation.md.
type Config struct {
	// Prefix starts every key; a replay builds a new namespace under another
	// prefix. Default "sf".
	Prefix string
	// Window is the RFM window W. Default 365 days.
	Window time.Duration
	// NES configures the purchase cycle.
	NES nes.Config
	// Currency is the store currency; orders in others are refused. Default USD.
	Currency string
	// Rules assign tags and tiers. Nil means none.
	Rules *tag.Engine
	// Waterfall assigns each customer one waterfall segment, after the
	// rules. Nil means none.
	Waterfall *waterfall.Engine
	// Cache is how many customers' records a store keeps after writing
	// them, so that a writer's next batch of the same customers reads
	// nothing (about 1–2 KB of heap each). Default 100,000.
	Cache int
}

// Store keeps profiles in Redis.
type Store struct {
	rdb redis.UniversalClient
	cfg Config

	popMu   sync.Mutex
	pop     *population.Set // loaded on first use (Population)
	records cache
}

// New returns a store on rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	if cfg.Prefix == "" {
		cfg.Prefix = "sf"
	}
	if cfg.Window <= 0 {
		cfg.Window = rfm.DefaultWindow
	}
	if cfg.Currency == "" {
		cfg.Currency = "USD"
	}
	if cfg.Cache <= 0 {
		cfg.Cache = 100_000
	}
	return &Store{rdb: rdb, cfg: cfg, records: cache{max: cfg.Cache}}
}

// Redis is the client the store keeps its state in.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Currency is the store currency.
func (s *Store) Currency() string { return s.cfg.Currency }

// NES is the store's purchase-cycle configuration.
func (s *Store) NES() nes.Config { return s.cfg.NES }

// Rules are the store's tag and tier rules, nil for none.
func (s *Store) Rules() *tag.Engine { return s.cfg.Rules }

// Waterfall is the store's waterfall segmentation, nil for none.
func (s *Store) Waterfall() *waterfall.Engine { return s.cfg.Waterfall }

// Snapshot is what profile.changed reports of a profile: the segmentation at T.
type Snapshot struct {
	Stage   nes.Stage `json:"stage"`
	Segment string    `json:"segment,omitempty"`
	RScore  int       `json:"r_score,omitempty"`
	FScore  int       `json:"f_score,omitempty"`
	MScore  int       `json:"m_score,omitempty"`
	Tier    string    `json:"tier,omitempty"`
	Tags    []string  `json:"tags,omitempty"`
	// Waterfall is the customer's waterfall segment; "" without a
	// waterfall.
	Waterfall string `json:"waterfall,omitempty"`
}

// key is what a change is judged by: stage, segment, tier, tag set and
// waterfall segment. Without a waterfall it is what it was before there
// was one, so that the ids of changes (newChange) stay the same.
func (s Snapshot) key() string {
	k := string(s.Stage) + "|" + s.Segment + "|" + s.Tier + "|" + strings.Join(s.Tags, ",")
	if s.Waterfall != "" {
		k += "|" + s.Waterfall
	}
	return k
}

// Change is a change of a customer's snapshot, to publish as profile.changed.
type Change struct {
	ID       string    `json:"-"`
	Customer string    `json:"customer"`
	At       time.Time `json:"at"`
	Before   Snapshot  `json:"before"`
	After    Snapshot  `json:"after"`
	Changed  []string  `json:"changed"`
	Cause    Cause     `json:"cause"`
}

// Event is the profile.changed CloudEvent of the change, from source, keyed
// by customer, and marked backfill if its cause is.
func (ch Change) Event(source string) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(ch.ID)
	e.SetSource(source)
	e.SetType(event.ProfileChanged)
	e.SetTime(ch.At)
	e.SetExtension(event.ExtPartitionKey, ch.Customer)
	if ch.Cause.Backfill {
		e.SetExtension(event.ExtBackfill, true)
	}
	err := e.SetData(cloudevents.ApplicationJSON, ch)
	return e, err
}

// Cause says what made a profile change: an event, or time passing.
type Cause struct {
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	// Backfill: the event is of the past (an imported order), and so is
	// the change: the trigger service sends nothing for it.
	Backfill bool      `json:"backfill,omitempty"`
	Due      time.Time `json:"due,omitempty"`
}

// State is a customer's stored state as of T.
type State struct {
	Customer   string
	Applied    bool   // the event changed stored state
	MergedInto string // the customer this profile was merged into, if any
	Version    int64
	Orders     int
	First      time.Time
	Last       time.Time
	Lifetime   int64 // micros: orders minus refunds, ever, from 0 to money.MaxSum
	Values     rfm.Values
	Due        time.Time // when the window values change next by time alone
	LastBrowse time.Time
	LastCart   time.Time
	CartValue  int64 // micros, from 0 to money.MaxSum
	CartItems  int
	Viewed     []string // skus, most recent last
	ViewedCats []string
	Bought     []string
	BoughtCats []string
	Traits     map[string]string
	Consent    map[string]bool // by channel
	// The snapshot last published (a prospect if none was).
	published Snapshot
}

// Profile is a customer's profile as of T.
type Profile struct {
	Customer  string
	Values    rfm.Values
	Orders    int
	First     time.Time
	Last      time.Time
	Cycle     time.Duration
	Lifetime  int64
	CartValue int64 // micros
	CartItems int
	LastCart  time.Time
	Traits    map[string]string
	Consent   map[string]bool // by channel
	Snapshot
}

// Get returns the profiles of customers as of T, scored against the store's
// own Population, without recording or scheduling anything: for readers such
// as the trigger service.
func (s *Store) Get(ctx context.Context, T time.Time, customers []string) ([]Profile, error) {
	return s.GetAgainst(ctx, T, customers, nil)
}

// GetAgainst is Get scored against pop instead (nil: the store's own), such
// as a read replica's view of the population.
func (s *Store) GetAgainst(ctx context.Context, T time.Time, customers []string, pop Population) ([]Profile, error) {
	states, err := s.read(ctx, T, customers)
	if err != nil {
		return nil, err
	}
	if pop == nil {
		if pop, err = s.Population(ctx); err != nil {
			return nil, err
		}
	}
	sc := pop.Scorer(T)
	out := make([]Profile, len(states))
	for i, st := range states {
		snap, err := s.snapshot(st, &sc, T)
		if err != nil {
			return nil, err
		}
		out[i] = s.profile(st, snap)
	}
	return out, nil
}

func (s *Store) profile(st *State, snap Snapshot) Profile {
	return Profile{
		Customer: st.Customer, Values: st.Values, Orders: st.Orders, First: st.First, Last: st.Last,
		Cycle: s.cfg.NES.Cycle(st.Orders, st.First, st.Last), Lifetime: st.Lifetime,
		CartValue: st.CartValue, CartItems: st.CartItems, LastCart: st.LastCart, Traits: st.Traits, Consent: st.Consent, Snapshot: snap,
	}
}

// Evaluate returns the profiles of customers as of T. It changes no profile,
// but records them in the population as of T like any evaluation.
func (s *Store) Evaluate(ctx context.Context, T time.Time, customers []string) ([]Profile, error) {
	states, snaps, _, err := s.settle(ctx, T, customers, make([]Cause, len(customers)))
	if err != nil {
		return nil, err
	}
	out := make([]Profile, len(states))
	for i, st := range states {
		out[i] = s.profile(st, snaps[i])
	}
	return out, nil
}

func newChange(c string, T time.Time, before, after Snapshot, cause Cause) Change {
	var changed []string
	if before.Stage != after.Stage {
		changed = append(changed, "stage")
	}
	if before.Segment != after.Segment {
		changed = append(changed, "segment")
	}
	if before.Tier != after.Tier {
		changed = append(changed, "tier")
	}
	if !slices.Equal(before.Tags, after.Tags) {
		changed = append(changed, "tags")
	}
	if before.Waterfall != after.Waterfall {
		changed = append(changed, "waterfall")
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\x00%s", c, cause.EventID, cause.EventType, cause.Due.UnixMilli(), before.key(), after.key())
	return Change{
		ID: hex.EncodeToString(h.Sum(nil)[:16]), Customer: c, At: T,
		Before: before, After: after, Changed: changed, Cause: cause,
	}
}

// snapshot computes a state's segmentation at T with the population's scorer.
func (s *Store) snapshot(st *State, sc *population.Scorer, T time.Time) (Snapshot, error) {
	snap := Snapshot{Stage: s.cfg.NES.Stage(st.Orders, st.First, st.Last, T)}
	scores := sc.Score(st.Values)
	snap.RScore, snap.FScore, snap.MScore, snap.Segment = scores.R, scores.F, scores.M, scores.Segment
	if s.cfg.Rules != nil {
		tags, tier, err := s.cfg.Rules.Eval(s.tagInput(st, snap))
		if err != nil {
			return snap, err
		}
		snap.Tags, snap.Tier = tags, tier
	}
	if s.cfg.Waterfall != nil {
		snap.Waterfall = s.cfg.Waterfall.Eval(waterfall.Input{Input: s.tagInput(st, snap), Tags: snap.Tags, Tier: snap.Tier})
	}
	return snap, nil
}

func (s *Store) tagInput(st *State, snap Snapshot) tag.Input {
	return tag.Input{
		Stage: string(snap.Stage), R: st.Values.R, F: st.Values.F, M: st.Values.M,
		RScore: snap.RScore, FScore: snap.FScore, MScore: snap.MScore, Segment: snap.Segment,
		Orders: st.Orders, Lifetime: st.Lifetime,
		BoughtSKUs: st.Bought, BoughtCategories: st.BoughtCats, ViewedSKUs: st.Viewed, ViewedCategories: st.ViewedCats,
		CartValue: st.CartValue, Traits: st.Traits, Consent: st.Consent,
	}
}

// nextDue is when the customer's segmentation next changes by time alone: an
// order leaving the window, or the next NES stage.
func (s *Store) nextDue(st *State, T time.Time) (time.Time, bool) {
	due, ok := st.Due, !st.Due.IsZero()
	if _, at, more := s.cfg.NES.NextChange(st.Orders, st.First, st.Last, T); more && (!ok || at.Before(due)) {
		due, ok = at, true
	}
	return due, ok
}
