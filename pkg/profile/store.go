package profile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/population"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/tag"
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
	// Shards is how many pipelines one Apply keeps in flight, its events
	// split by customer, so that Redis works on one while the replies of
	// another are decoded and evaluated. Default 4; 1 runs one pipeline.
	Shards int
}

// inParallel runs fn(0) … fn(n-1) at once and returns their errors joined.
func inParallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// minShard is the fewest events or customers worth a pipeline of their own.
const minShard = 32

// Store keeps profiles in Redis.
type Store struct {
	rdb redis.UniversalClient
	cfg Config

	popMu sync.Mutex
	pop   *population.Set // loaded on first use (Population)
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
	if cfg.Shards <= 0 {
		cfg.Shards = 4
	}
	return &Store{rdb: rdb, cfg: cfg}
}

// Redis is the client the store keeps its state in.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Currency is the store currency.
func (s *Store) Currency() string { return s.cfg.Currency }

// NES is the store's purchase-cycle configuration.
func (s *Store) NES() nes.Config { return s.cfg.NES }

// Rules are the store's tag and tier rules, nil for none.
func (s *Store) Rules() *tag.Engine { return s.cfg.Rules }

// Snapshot is what profile.changed reports of a profile: the segmentation at T.
type Snapshot struct {
	Stage   nes.Stage `json:"stage"`
	Segment string    `json:"segment,omitempty"`
	RScore  int       `json:"r_score,omitempty"`
	FScore  int       `json:"f_score,omitempty"`
	MScore  int       `json:"m_score,omitempty"`
	Tier    string    `json:"tier,omitempty"`
	Tags    []string  `json:"tags,omitempty"`
}

// key is what a change is judged by: stage, segment, tier and tag set.
func (s Snapshot) key() string {
	return string(s.Stage) + "|" + s.Segment + "|" + s.Tier + "|" + strings.Join(s.Tags, ",")
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

// State is a customer's stored state as of T, as the apply script returns it.
type State struct {
	Customer   string
	Applied    bool   // the event changed stored state
	MergedInto string // the customer this profile was merged into, if any
	partial    bool   // only Applied and MergedInto are known
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
	// The last published snapshot: its key, and its JSON, decoded only when a
	// change needs it.
	publishedKey string
	publishedRaw string
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func fromMs(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s == "" {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// Apply applies ops, in order, as of T and returns the profile changes they
// cause and how many orders and refunds were already applied (duplicates).
// Customers' population entries, scores and timers are updated too. The caller
// publishes the changes and then calls Commit; applying the same ops again
// (after a crash before Commit) returns the same changes with the same ids.
func (s *Store) Apply(ctx context.Context, T time.Time, ops []Op) ([]Change, int, error) {
	if len(ops) == 0 {
		return nil, 0, nil
	}
	states := make([]*State, len(ops))
	// Ops run in pipelines, split before each identity merge: a merge reads the
	// other profile, which must include the ops before it.
	for i := 0; i < len(ops); {
		j := i
		for j < len(ops) && (ops[j].Merge == "" || ops[j].Merge == ops[j].Customer) {
			j++
		}
		if err := s.applyOps(ctx, T, ops[i:j], states[i:j]); err != nil {
			return nil, 0, err
		}
		if j == len(ops) {
			break
		}
		if err := s.merge(ctx, T, ops[j], states[j:j+1]); err != nil {
			return nil, 0, err
		}
		i = j + 1
	}
	dups := 0
	for i, st := range states {
		if (ops[i].Kind == opOrder || ops[i].Kind == opRefund) && !st.Applied {
			dups++
		}
	}
	// Each customer is evaluated after its last event of a batch (and before
	// each identity merge), so a change is attributed to that event.
	var full []*State
	var causes []Cause
	for i, st := range states {
		if !st.partial {
			full = append(full, st)
			causes = append(causes, Cause{EventID: ops[i].CauseID, EventType: ops[i].CauseType, Backfill: ops[i].Backfill})
		}
	}
	// A profile merged into another in this batch leaves the population,
	// though its states before the merge are evaluated like any.
	var left map[string]bool
	for _, op := range ops {
		if op.Merge != "" && op.Merge != op.Customer {
			if left == nil {
				left = map[string]bool{}
			}
			left[op.Merge] = true
		}
	}
	changes, _, err := s.evaluate(ctx, T, full, causes, left)
	return changes, dups, err
}

// applyOps applies ops, split into shards by customer that run at once, so
// that Redis applies one shard while the replies of another are decoded.
// Every state of one customer comes from the same shard.
func (s *Store) applyOps(ctx context.Context, T time.Time, ops []Op, states []*State) error {
	shards := s.shards(len(ops), func(i int) string { return ops[i].Customer })
	if len(shards) == 1 {
		return s.run(ctx, T, ops, states, true)
	}
	err := inParallel(len(shards), func(j int) error {
		idx := shards[j]
		sops := make([]Op, len(idx))
		for k, i := range idx {
			sops[k] = ops[i]
		}
		sst := make([]*State, len(idx))
		if err := s.run(ctx, T, sops, sst, true); err != nil {
			return err
		}
		for k, i := range idx {
			states[i] = sst[k]
		}
		return nil
	})
	if err != nil {
		return err
	}
	// An event of a profile merged into another was applied to that one too,
	// perhaps by two shards at once: read the final state of such profiles
	// once everything is applied.
	var forwarded []string
	at := map[string][]int{}
	for i, st := range states {
		if st.partial || st.Customer == ops[i].Customer {
			continue
		}
		if _, ok := at[st.Customer]; !ok {
			forwarded = append(forwarded, st.Customer)
		}
		at[st.Customer] = append(at[st.Customer], i)
	}
	if len(forwarded) == 0 {
		return nil
	}
	fresh, err := s.read(ctx, T, forwarded)
	if err != nil {
		return err
	}
	for k, c := range forwarded {
		for _, i := range at[c] {
			applied := states[i].Applied
			st := *fresh[k]
			st.Applied = applied
			states[i] = &st
		}
	}
	return nil
}

// shards splits items into up to Config.Shards groups by the hash of their
// customer, keeping their order; it returns the items' indexes.
func (s *Store) shards(n int, customer func(i int) string) [][]int {
	k := min(s.cfg.Shards, n/minShard)
	if k <= 1 {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	out := make([][]int, k)
	for i := range n {
		h := fnv.New32a()
		h.Write([]byte(customer(i)))
		j := int(h.Sum32() % uint32(k))
		out[j] = append(out[j], i)
	}
	return slices.DeleteFunc(out, func(idx []int) bool { return len(idx) == 0 })
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
	states, err := s.read(ctx, T, customers)
	if err != nil {
		return nil, err
	}
	_, snaps, err := s.evaluate(ctx, T, states, make([]Cause, len(states)), nil)
	if err != nil {
		return nil, err
	}
	out := make([]Profile, len(states))
	for i, st := range states {
		out[i] = s.profile(st, snaps[i])
	}
	return out, nil
}

// read returns customers' states as of T without changing them.
func (s *Store) read(ctx context.Context, T time.Time, customers []string) ([]*State, error) {
	cmds := make([]stateCmds, len(customers))
	W := strconv.FormatInt(s.cfg.Window.Milliseconds(), 10)
	err := s.pipelined(ctx, func(pipe redis.Pipeliner) {
		for i, c := range customers {
			keys := s.customerKeys(c)
			cmds[i].script = applyScript.EvalSha(ctx, pipe, keys, "+"+opNone, ms(T), W, ms(T))
			cmds[i].read(ctx, pipe, keys)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read %d profiles: %w", len(customers), err)
	}
	states := make([]*State, len(customers))
	for i := range cmds {
		st, err := cmds[i].state(customers[i], T)
		if err != nil {
			return nil, err
		}
		states[i] = st
	}
	return states, nil
}

// stateCmds are the commands that read a customer's state: the apply
// script's reply with the window values, then the keys read as they are.
type stateCmds struct {
	script         *redis.Cmd
	p, cart        *redis.MapStringStringCmd
	vs, vc, bought *redis.StringSliceCmd
}

// read queues the plain reads of a customer's keys after the script.
func (r *stateCmds) read(ctx context.Context, pipe redis.Pipeliner, keys []string) {
	r.p = pipe.HGetAll(ctx, keys[0])
	r.vs = pipe.ZRange(ctx, keys[3], 0, -1)
	r.vc = pipe.ZRange(ctx, keys[4], 0, -1)
	r.bought = pipe.ZRange(ctx, keys[5], 0, -1)
	r.cart = pipe.HGetAll(ctx, keys[6])
}

// Write applies ops as of T without evaluating anyone: no snapshots, no
// population, no timers. A bulk backfill can write all events and then
// evaluate the customers once. It returns how many orders and refunds were
// already applied.
func (s *Store) Write(ctx context.Context, T time.Time, ops []Op) (int, error) {
	states := make([]*State, len(ops))
	if err := s.run(ctx, T, ops, states, false); err != nil {
		return 0, err
	}
	dups := 0
	for i, st := range states {
		if (ops[i].Kind == opOrder || ops[i].Kind == opRefund) && !st.Applied {
			dups++
		}
	}
	return dups, nil
}

// run applies ops in one pipeline; with read, the last op of each customer
// returns the customer's state.
func (s *Store) run(ctx context.Context, T time.Time, ops []Op, states []*State, read bool) error {
	if len(ops) == 0 {
		return nil
	}
	// Only the last op of each customer returns the state: evaluating it once
	// per batch is what makes batches cheap.
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[op.Customer] = i
	}
	cmds := make([]stateCmds, len(ops))
	W := strconv.FormatInt(s.cfg.Window.Milliseconds(), 10)
	err := s.pipelined(ctx, func(pipe redis.Pipeliner) {
		for i, op := range ops {
			t := op.Time
			if t.IsZero() {
				t = T
			}
			kind := op.Kind
			full := read && last[op.Customer] == i
			if full {
				kind = "+" + kind
			}
			args := append([]any{kind, ms(T), W, ms(t)}, toAny(op.args)...)
			keys := s.customerKeys(op.Customer)
			cmds[i].script = applyScript.EvalSha(ctx, pipe, keys, args...)
			if full {
				cmds[i].read(ctx, pipe, keys)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("apply %d events: %w", len(ops), err)
	}
	var forward []Op
	var at []int
	for i := range cmds {
		var st *State
		if read && last[ops[i].Customer] == i {
			st, err = cmds[i].state(ops[i].Customer, T)
		} else {
			st, err = parseApplied(ops[i].Customer, cmds[i].script)
		}
		if err != nil {
			return fmt.Errorf("apply event %s: %w", ops[i].CauseID, err)
		}
		states[i] = st
		if st.MergedInto != "" && st.MergedInto != ops[i].Customer {
			op := ops[i]
			op.Customer = st.MergedInto
			forward = append(forward, op)
			at = append(at, i)
		}
	}
	if len(forward) == 0 {
		return nil
	}
	fstates := make([]*State, len(forward))
	if err := s.run(ctx, T, forward, fstates, read); err != nil {
		return err
	}
	for k, i := range at {
		states[i] = fstates[k]
	}
	return nil
}

// merge joins the profile op.Merge (an anonymous visitor) into op.Customer,
// then applies op. The other profile is marked merged, so that events still
// arriving for it are forwarded, and leaves the population and the timers.
func (s *Store) merge(ctx context.Context, T time.Time, op Op, states []*State) error {
	res, err := readScript.Run(ctx, s.rdb, s.customerKeys(op.Merge), op.Customer).Slice()
	if err != nil {
		return fmt.Errorf("read profile to merge: %w", err)
	}
	if len(res) != 7 {
		return fmt.Errorf("read profile to merge: %d results", len(res))
	}
	d := map[string]any{
		"p": strs(res[0]), "h": strs(res[1]), "amt": pairs(res[2]),
		"vs": strs(res[3]), "vc": strs(res[4]), "b": strs(res[5]), "cart": strs(res[6]),
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	m := Op{Customer: op.Customer, Kind: opMerge, Time: op.Time, CauseID: op.CauseID, CauseType: op.CauseType, args: []string{string(b), op.Merge}}
	both := make([]*State, 2)
	if err := s.applyOps(ctx, T, []Op{m, op}, both); err != nil {
		return err
	}
	states[0] = both[1]
	// The merged profile leaves the population (its summary is Gone from
	// now on, so other writers' populations drop it too) and the timers.
	pop, err := s.Population(ctx)
	if err != nil {
		return err
	}
	pop.Remove(op.Merge)
	if err := s.rdb.ZRem(ctx, s.timerKey(op.Merge), op.Merge).Err(); err != nil {
		return fmt.Errorf("remove merged profile's timer: %w", err)
	}
	return nil
}

// pipelined runs fn's commands in one pipeline. Scripts in a pipeline run by
// hash; if Redis does not know them (a new or restarted server) they are
// loaded and the pipeline runs again, which is safe because every script is
// idempotent.
func (s *Store) pipelined(ctx context.Context, fn func(redis.Pipeliner)) error {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		fn(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil || attempt > 0 || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		for _, sc := range []*redis.Script{applyScript, entryScript, readScript} {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				return fmt.Errorf("load scripts: %w", err)
			}
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// evaluate records the latest state of each customer in the population,
// scores every state against it, schedules the customers' next time-driven
// change, and returns the snapshot changes in order. The population is
// recorded for all customers first, so every state is scored against the
// same population. Customers in left (merged into another) are scored but
// leave the population and the timers.
func (s *Store) evaluate(ctx context.Context, T time.Time, states []*State, causes []Cause, left map[string]bool) ([]Change, []Snapshot, error) {
	pop, err := s.Population(ctx)
	if err != nil {
		return nil, nil, err
	}
	latest := map[string]*State{}
	var order []string
	var merged []string
	for _, st := range states {
		if st.MergedInto != "" || left[st.Customer] {
			merged = append(merged, st.Customer) // no longer a customer of its own
			if st.MergedInto != "" {
				continue
			}
		}
		if _, ok := latest[st.Customer]; !ok && !left[st.Customer] {
			order = append(order, st.Customer)
		}
		latest[st.Customer] = st
	}
	for _, c := range merged {
		pop.Remove(c)
	}
	// One round trip records the entries in the profiles and schedules the
	// customers' next time-driven change.
	err = s.pipelined(ctx, func(pipe redis.Pipeliner) {
		for _, c := range merged {
			pipe.ZRem(ctx, s.timerKey(c), c)
		}
		for _, c := range order {
			st := latest[c]
			e := entryOf(st, T)
			pop.Put(c, e)
			entryScript.EvalSha(ctx, pipe, []string{s.customerKeys(c)[keyProfile]}, e.Version, e.At, formatEntry(e))
			if due, ok := s.nextDue(st, T); ok {
				pipe.ZAdd(ctx, s.timerKey(c), redis.Z{Score: float64(due.UnixMilli()), Member: c})
			} else {
				pipe.ZRem(ctx, s.timerKey(c), c)
			}
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("record population: %w", err)
	}

	sc := pop.Scorer(T)
	snaps := make([]Snapshot, len(states))
	current := map[string]Snapshot{}
	var changes []Change
	for i, st := range states {
		if st.MergedInto != "" {
			continue
		}
		after, err := s.snapshot(st, &sc, T)
		if err != nil {
			return nil, nil, fmt.Errorf("customer rules: %w", err)
		}
		snaps[i] = after
		before, ok := current[st.Customer]
		current[st.Customer] = after
		if ok && before.key() == after.key() || !ok && st.publishedKey == after.key() {
			continue
		}
		if !ok {
			if before, err = st.published(); err != nil {
				return nil, nil, err
			}
		}
		changes = append(changes, newChange(st.Customer, T, before, after, causes[i]))
	}
	return changes, snaps, nil
}

// Commit stores the snapshots of published changes, so they are not published
// again. Only the last change of each customer matters.
func (s *Store) Commit(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, ch := range changes {
		b, _ := json.Marshal(ch.After)
		pipe.HSet(ctx, s.customerKeys(ch.Customer)[keyProfile], "derived", b, "dkey", ch.After.key())
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("commit %d changes: %w", len(changes), err)
	}
	return nil
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

// capped reads a decimal integer of micros, of any length, capped to
// [0, money.MaxSum].
func capped(v any) int64 {
	s := fmt.Sprint(v)
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		n = int64(money.MaxSum) // beyond int64 either way: positive (no sign) or far below 0
		if strings.HasPrefix(s, "-") {
			n = 0
		}
	}
	return int64(money.Cap(n))
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// published decodes the last published snapshot; a profile never published
// is a prospect.
func (st *State) published() (Snapshot, error) {
	if st.publishedRaw == "" {
		return Snapshot{Stage: nes.Prospect}, nil
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(st.publishedRaw), &snap); err != nil {
		return snap, fmt.Errorf("stored snapshot of %s: %w", st.Customer, err)
	}
	return snap, nil
}

// parseApplied decodes the apply script's short reply: whether the event
// changed anything, and the profile it was merged into.
func parseApplied(c string, cmd *redis.Cmd) (*State, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("apply script: %d results", len(res))
	}
	return &State{Customer: c, Applied: toInt(res[0]) == 1, MergedInto: fmt.Sprint(res[1]), partial: true}, nil
}

// state decodes a customer's state from the replies.
func (r *stateCmds) state(c string, T time.Time) (*State, error) {
	res, err := r.script.Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 6 {
		return nil, fmt.Errorf("apply script: %d results", len(res))
	}
	p, err := r.p.Result()
	if err != nil {
		return nil, err
	}
	st := &State{Customer: c, Traits: map[string]string{}, Consent: map[string]bool{}}
	st.Applied = toInt(res[0]) == 1
	st.MergedInto = fmt.Sprint(res[1])
	// The version is the script's, read with the window values: a write by
	// someone else between the script and the reads cannot pair new values
	// with an old version.
	st.Version = toInt(res[2])
	st.Values.F = int(toInt(res[3]))
	st.Values.M = capped(res[4])
	if due := toInt(res[5]); due >= 0 {
		st.Due = time.UnixMilli(due).UTC()
	}
	st.Orders = int(toInt(p["n"]))
	st.First, st.Last = fromMs(p["first"]), fromMs(p["last"])
	st.Lifetime = int64(money.JoinLimbs(toInt(p["ltvh"]), toInt(p["ltv"])).Cap())
	st.LastBrowse, st.LastCart = fromMs(p["last_browse"]), fromMs(p["last_cart"])
	if st.Orders > 0 {
		st.Values.R = int(max(T.Sub(st.Last), 0) / (24 * time.Hour))
	}
	for k, v := range p {
		name, ok := strings.CutPrefix(k, "a:")
		if !ok {
			continue
		}
		_, val, _ := strings.Cut(v, "|")
		if ch, ok := strings.CutPrefix(name, "consent."); ok {
			st.Consent[ch] = val == "true"
		} else {
			st.Traits[name] = val
		}
	}
	st.publishedRaw, st.publishedKey = p["derived"], p["dkey"]
	if st.publishedKey == "" {
		pub, err := st.published()
		if err != nil {
			return nil, err
		}
		st.publishedKey = pub.key()
	}
	clear := toInt(p["cart_clear"])
	var cart money.Sum
	for _, v := range r.cart.Val() {
		parts := strings.Split(v, "|")
		if len(parts) != 3 {
			continue
		}
		t, qty, price := toInt(parts[0]), toInt(parts[1]), toInt(parts[2])
		if t > clear && qty > 0 {
			st.CartItems++
			cart = cart.Plus(money.Product(money.Micros(price), qty))
		}
	}
	st.CartValue = int64(cart.Cap())
	st.Viewed = r.vs.Val()
	st.ViewedCats = r.vc.Val()
	for _, b := range r.bought.Val() {
		if sku, ok := strings.CutPrefix(b, "s:"); ok {
			st.Bought = append(st.Bought, sku)
		} else if cat, ok := strings.CutPrefix(b, "c:"); ok {
			st.BoughtCats = append(st.BoughtCats, cat)
		}
	}
	return st, nil
}

func strs(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case int64:
			out = append(out, strconv.FormatInt(x, 10))
		default:
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

func pairs(v any) map[string]string {
	xs := strs(v)
	m := make(map[string]string, len(xs)/2)
	for i := 0; i+1 < len(xs); i += 2 {
		m[xs[i]] = xs[i+1]
	}
	return m
}
