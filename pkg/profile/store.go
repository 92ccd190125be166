package profile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/predict"
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
	// nothing (about 4.7 KB of heap each with their tag memos:
	// BenchmarkMemoryPerCustomer). Default 100,000.
	Cache int
	// Models gives the model predictions are made with; nil means none
	// (no predictions, no TagAtRisk). See predict.go.
	Models Models
	// AtRisk is the P(alive) threshold of TagAtRisk. Default DefaultAtRisk.
	AtRisk float64
}

// Store keeps profiles in Redis.
type Store struct {
	rdb redis.UniversalClient
	cfg Config

	popMu   sync.Mutex
	pop     *population.Set // loaded on first use (Population)
	records cache
	pub     pending   // batches written and not yet committed (pending.go)
	soonest watermark // of the timers, kept while the sole scheduler (SoleScheduler)
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
	if !(cfg.AtRisk > 0 && cfg.AtRisk < 1) {
		cfg.AtRisk = DefaultAtRisk
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

// Models is the source of the model the store predicts with; nil for none.
func (s *Store) Models() Models { return s.cfg.Models }

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

// same tells whether s and o are the same by what a change is judged by:
// stage, segment, tier, tag set and waterfall segment.
func (s Snapshot) same(o Snapshot) bool {
	return s.Stage == o.Stage && s.Segment == o.Segment && s.Tier == o.Tier && slices.Equal(s.Tags, o.Tags) && s.Waterfall == o.Waterfall
}

// appendKey appends what a change is judged by to b:
// "stage|segment|tier|tag,tag", and "|waterfall" with a waterfall segment
// (without one it is what it was before there were waterfalls, so that the
// ids of changes stay the same).
func (s Snapshot) appendKey(b []byte) []byte {
	b = append(append(append(append(append(append(b, s.Stage...), '|'), s.Segment...), '|'), s.Tier...), '|')
	for i, t := range s.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	if s.Waterfall != "" {
		b = append(append(b, '|'), s.Waterfall...)
	}
	return b
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
	// batch is the batch that wrote the change, which Commit commits.
	batch pendMark
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

// State is a customer's stored state as of T. Its maps and the lists of
// products bought and viewed are shared with the record's other states
// (record.derive): they are only read.
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
	// Traits by name: string, float64, bool or time.Time values
	// (event.Trait.Value).
	Traits  map[string]any
	Consent map[string]bool // by channel
	// The snapshot last published (a prospect if none was).
	published Snapshot
	// days are the purchase days, the model's inputs (predict.go), with a
	// model (Store.state).
	days predict.Days
	// memo is the customer's memo of tag outcomes, nil for none.
	memo *tag.Memo
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
	Traits    map[string]any  // string, float64, bool or time.Time values
	Consent   map[string]bool // by channel
	// Predicted is nil without a model (Config.Models) or purchases.
	Predicted *Predicted
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
		out[i].Predicted, _ = s.predicted(st, T)
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
	states, snaps, _, err := s.settle(ctx, T, customers, make([]Cause, len(customers)), false)
	if err != nil {
		return nil, err
	}
	out := make([]Profile, len(states))
	for i, st := range states {
		out[i] = s.profile(st, snaps[i])
	}
	return out, nil
}

// newChange is the change of customer c's snapshot from before to after at
// T, for cause; identify gives it its ID.
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
	return Change{Customer: c, At: T, Before: before, After: after, Changed: changed, Cause: cause}
}

// identify sets ch's ID, which hashes its customer, cause and both
// snapshots, NUL-separated, so that a change computed again (after a crash
// before its batch's Commit) has the same.
func (ch *Change) identify() {
	// The buffer holds two snapshots of 50 tags of 40 bytes on the stack.
	var buf [4096]byte
	b := append(append(append(append(append(append(buf[:0], ch.Customer...), 0), ch.Cause.EventID...), 0), ch.Cause.EventType...), 0)
	b = append(strconv.AppendInt(b, ch.Cause.Due.UnixMilli(), 10), 0)
	b = append(ch.Before.appendKey(b), 0)
	b = ch.After.appendKey(b)
	sum := sha256.Sum256(b)
	ch.ID = hex.EncodeToString(sum[:16])
}

// snapshot computes a state's segmentation at T with the population's scorer.
func (s *Store) snapshot(st *State, sc *population.Scorer, T time.Time) (Snapshot, error) {
	snap := Snapshot{Stage: s.cfg.NES.Stage(st.Orders, st.First, st.Last, T)}
	scores := sc.Score(st.Values)
	snap.RScore, snap.FScore, snap.MScore, snap.Segment = scores.R, scores.F, scores.M, scores.Segment
	if s.cfg.Rules != nil {
		tags, tier, err := s.cfg.Rules.EvalMemo(s.tagInput(st, snap), st.memo)
		if err != nil {
			return snap, err
		}
		snap.Tags, snap.Tier = tags, tier
	}
	snap.Tags = s.tagAtRisk(st, snap.Tags, T)
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
// order leaving the window, the next NES stage, or becoming at risk.
func (s *Store) nextDue(st *State, T time.Time) (time.Time, bool) {
	due, ok := st.Due, !st.Due.IsZero()
	if _, at, more := s.cfg.NES.NextChange(st.Orders, st.First, st.Last, T); more && (!ok || at.Before(due)) {
		due, ok = at, true
	}
	if at, more := s.nextAtRisk(st, T); more && (!ok || at.Before(due)) {
		due, ok = at, true
	}
	return due, ok
}
