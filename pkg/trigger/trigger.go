// Package trigger is the trigger service: it consumes customer events and
// profile changes, enters customers into the campaigns of a campaign.Config,
// waits out their delays on durable timers in Redis, applies the guards, and
// emits each decision as a CloudEvent — a trigger on the triggers topic, or a
// suppression (holdout, consent, cap, cooldown, budget, premise, no_coupon) on
// the decisions topic, so that nothing is decided silently. A campaign with a
// coupon issues a code with each trigger, and an order carrying the code
// redeems it (pkg/coupon). A profile change marked
// backfill (a replay of the past) is only ever a suppression. A broadcast
// (pkg/broadcast) enters its audience through the same decision path
// (Engine.Broadcast), its occurrence standing for the entry event.
//
// At most one trigger per campaign per cause: a decision's id is derived from
// the campaign, the customer and the event that started it, and decideScript
// records the outcome under that id in the same atomic step that counts the
// send against caps and cooldown. A decision redelivered after a crash finds
// its outcome and is announced again with the same CloudEvent id, which
// consumers dedup on.
//
// A decision reads the profile as the profile-updater has applied it when
// the decision is made. Kafka orders a customer's events within a topic, not
// across topics: consent given by an identify sent in the same moment as an
// order may be applied after the order's change is decided on, and the
// decision is then a consent suppression. A wait decides when it falls due.
//
// Journeys (pkg/journey) run on the same machinery: a send step is decided
// as a campaign, with the guards, and a customer's place in a journey waits
// on the same timers (journey.go). A trigger whose action is points credits
// the customer's ledger, and an order's points_spent spends from it
// (pkg/points).
//
// Keys (keys.go), per customer c (hash-tagged like the profile's, pkg/keys): tr:{c}:pending (hash
// campaign -> wait), tr:{c}:journeys (hash journey -> position), tr:{c}:decided (hash decision id -> outcome), tr:{c}:sent
// and tr:{c}:sent:<campaign> (zsets of send times), tr:{c}:last (hash campaign
// -> last send), tr:{c}:merged (the customer c was merged into, see
// follow.go). Timers: in 256 shards by customer ([keys.Shard]),
// tr:{#timers.<n>.<k>}:due (zset "<campaign>\x00<customer>", or for a
// journey "\x1ejourney:<name>\x00<customer>", -> due ms); Due reads the
// earliest of every shard in one pipeline.
package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/coupon"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/points"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// Topics and CloudEvent types of decisions.
const (
	TopicTriggers  = "triggers"
	TopicDecisions = "decisions"
	TypeTrigger    = "segflow.trigger"
	TypeSuppressed = "segflow.trigger.suppressed"
)

// Outcomes of a decision.
const (
	Sent     = "sent"
	Holdout  = "holdout"
	Consent  = "consent"
	Cap      = "cap"
	Cooldown = "cooldown"
	Premise  = "premise"
	Budget   = "budget"
	// NoCoupon: the campaign's coupon had no code to give (its pool is
	// exhausted, or its fixed end has passed); Reason.Detail says which.
	NoCoupon = "no_coupon"
	// Backfill is a decision on a profile change of a replay of the past.
	Backfill = "backfill"
)

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Profiles reads customer profiles as of a time.
type Profiles interface {
	Get(ctx context.Context, T time.Time, customers []string) ([]profile.Profile, error)
}

// Engine makes campaign decisions. It is the part of the service that does
// not read Kafka, so tests and replays can drive it directly. It is not safe
// for concurrent use.
type Engine struct {
	campaigns *campaign.Config
	journeys  *journey.Config
	rdb       redis.UniversalClient
	profiles  Profiles
	out       Producer
	coupons   *coupon.Store
	points    *points.Store
	// Decided, if set, is told of every decision published and of how late
	// it was: the decision time minus the time it was due.
	Decided func(d Decision, late time.Duration)

	// Parallel is how many customers' events a batch handles at once (each
	// customer's in order), so that their Redis round trips overlap.
	// Default 8.
	Parallel int

	mu           sync.Mutex // guards outbox while a batch is handled
	outbox       []announcement
	profileCache map[string]*profile.Profile
}

// SetCampaigns replaces the campaigns, between batches: waits already
// pending for a campaign that is gone are dropped when they fall due.
func (e *Engine) SetCampaigns(cfg *campaign.Config) { e.campaigns = cfg }

// immediate tells whether an event of type typ enters a campaign without delay.
func (e *Engine) immediate(typ string) bool {
	for _, c := range e.campaigns.Campaigns {
		if c.Delay == 0 && onEntry(&c, typ) {
			return true
		}
	}
	return false
}

// NewEngine returns an engine for the campaigns in cfg.
func NewEngine(cfg *campaign.Config, rdb redis.UniversalClient, profiles Profiles, out Producer) *Engine {
	return &Engine{campaigns: cfg, rdb: rdb, profiles: profiles, out: out, coupons: coupon.NewStore(rdb), points: points.NewStore(rdb)}
}

// wait is a campaign's pending delay for one customer.
type wait struct {
	Start  time.Time      `json:"start"`
	Due    time.Time      `json:"due"`
	First  string         `json:"first"`  // id of the event that started the wait
	Causes []string       `json:"causes"` // ids of the entry events since
	Event  map[string]any `json:"event"`  // the last entry event: type, time, data
	Change map[string]any `json:"change,omitempty"`
	// Origin is the customer the wait began for, when it was moved to
	// another by an identity merge (follow.go); its decision id is theirs.
	Origin string `json:"origin,omitempty"`
}

func member(campaign, customer string) string { return campaign + "\x00" + customer }

// Handle applies one event as of T: it cancels the waits the event ends,
// enters the customer into the campaigns the event starts, and decides and
// publishes those without delay.
func (e *Engine) Handle(ctx context.Context, T time.Time, ev cloudevents.Event) error {
	return e.HandleBatch(ctx, T, []cloudevents.Event{ev})
}

// HandleBatch handles events in order and publishes their decisions in one
// write.
//
// An event is handled as the event of the customer its own was merged into
// (follow.go). The batch is handled in parts split at the events that merge
// one customer into another: the merged customer's state moves after the
// events before the merge and before those after it.
func (e *Engine) HandleBatch(ctx context.Context, T time.Time, evs []cloudevents.Event) error {
	e.outbox = e.outbox[:0]
	owners, merges, err := e.owners(ctx, evs)
	if err != nil {
		return err
	}
	// The profiles the batch's immediate decisions need, read at once: the
	// trigger service changes no profile, so reading them first is reading
	// them when needed.
	var customers []string
	seen := map[string]bool{}
	for i, ev := range evs {
		c := owners[i]
		if c != "" && !seen[c] && e.immediate(ev.Type()) {
			seen[c] = true
			customers = append(customers, c)
		}
	}
	e.profileCache = map[string]*profile.Profile{}
	if len(customers) > 0 {
		ps, err := e.profiles.Get(ctx, T, customers)
		if err != nil {
			return err
		}
		for i := range ps {
			e.profileCache[ps[i].Customer] = &ps[i]
		}
	}
	for i := 0; i < len(evs); {
		j := i
		for j < len(evs) && merges[j] == "" {
			j++
		}
		err := e.byCustomer(j-i, func(k int) string { return owners[i+k] }, func(k int) error {
			return e.handle(ctx, T, evs[i+k], owners[i+k])
		})
		if err != nil {
			return err
		}
		if j < len(evs) {
			if err := e.follow(ctx, merges[j], owners[j]); err != nil {
				return err
			}
			if err := e.handle(ctx, T, evs[j], owners[j]); err != nil {
				return err
			}
		}
		i = j + 1
	}
	return e.flush(ctx)
}

// byCustomer calls fn for items 0 … n-1: the items of one customer in order,
// those of different customers at once, up to Parallel at a time.
func (e *Engine) byCustomer(n int, customer func(i int) string, fn func(i int) error) error {
	k := e.Parallel
	if k <= 0 {
		k = 8
	}
	k = min(k, n)
	shards := make([][]int, k)
	for i := range n {
		h := fnv.New32a()
		h.Write([]byte(customer(i)))
		j := h.Sum32() % uint32(k)
		shards[j] = append(shards[j], i)
	}
	errs := make([]error, k)
	var wg sync.WaitGroup
	for j, idx := range shards {
		wg.Go(func() {
			for _, i := range idx {
				if errs[j] = fn(i); errs[j] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// handle handles ev as the event of customer, which is its own or the one
// its own was merged into.
func (e *Engine) handle(ctx context.Context, T time.Time, ev cloudevents.Event, customer string) error {
	if customer == "" {
		return stream.Reject("no-customer", fmt.Errorf("event %s has no customer", ev.ID()))
	}
	origin := customerOf(ev)
	var data map[string]any
	if err := json.Unmarshal(ev.Data(), &data); err != nil {
		return stream.Reject("undecodable", fmt.Errorf("event %s data: %w", ev.ID(), err))
	}
	if event.Backfill(ev) {
		if ev.Type() == event.ProfileChanged {
			return e.backfill(ctx, T, customer, ev, data)
		}
		return nil // an imported order of the past: no conversion, no wait
	}
	for i := range e.campaigns.Campaigns {
		c := &e.campaigns.Campaigns[i]
		if c.Cancels(ev.Type()) {
			if err := e.cancel(ctx, c, customer, ev.Time()); err != nil {
				return err
			}
		}
	}
	if ev.Type() == event.OrderCompleted {
		id, _ := data["order_id"].(string)
		if err := e.convert(ctx, customer, id, ev.Time(), data); err != nil {
			return err
		}
		if err := e.spend(ctx, customer, id, ev.Time(), data); err != nil {
			return err
		}
		if code, _ := data["coupon"].(string); code != "" {
			o := coupon.Order{ID: id, Customer: customer, Code: code, At: ev.Time(), Revenue: orderTotal(data)}
			if _, err := e.coupons.Redeem(ctx, o); err != nil {
				return err
			}
		}
	}
	if err := e.timed(ctx, T, customer, ev, data); err != nil {
		return err
	}
	var views []time.Time
	if ev.Type() == event.ProductViewed {
		var err error
		if views, err = e.viewed(ctx, customer, ev, data); err != nil {
			return err
		}
	}
	var prof *profile.Profile
	in := campaign.Input{Event: map[string]any{"type": ev.Type(), "time": ev.Time(), "data": data}}
	if ev.Type() == event.ProfileChanged {
		in.Change = data
	}
	for i := range e.campaigns.Campaigns {
		c := &e.campaigns.Campaigns[i]
		if !onEntry(c, ev.Type()) {
			continue
		}
		if c.Delay == 0 {
			if prof == nil {
				prof = e.profileCache[customer]
			}
			if prof == nil {
				ps, err := e.profiles.Get(ctx, T, []string{customer})
				if err != nil {
					return err
				}
				prof = &ps[0]
			}
			if in.Profile == nil {
				in.Profile = profileVars(prof)
			}
			ok, err := c.Matches(in)
			if err != nil || !ok {
				continue // an expression that fails on this entry does not enter it
			}
			if err := e.decide(ctx, T, c, customer, origin, ev.ID(), []string{ev.ID()}, in, prof); err != nil {
				return err
			}
			continue
		}
		if c.Kind == campaign.KindBrowseAbandon && !c.ViewedEnough(views, ev.Time()) {
			continue
		}
		// A delayed campaign's condition is checked when the wait ends, on
		// the profile as it is then: the profile-updater may not have
		// applied this very event yet.
		w := wait{Start: ev.Time(), Due: ev.Time().Add(time.Duration(c.Delay)), First: ev.ID(), Causes: []string{ev.ID()}, Event: in.Event, Change: in.Change}
		if origin != customer {
			w.Origin = origin
		}
		if err := e.schedule(ctx, c, customer, w); err != nil {
			return err
		}
	}
	return e.journeyEvent(ctx, T, ev, data, customer)
}

// backfill records each campaign a profile change computed by a replay of
// the past would enter as suppressed with reason backfill: no trigger for
// the past, and no wait either.
func (e *Engine) backfill(ctx context.Context, T time.Time, customer string, ev cloudevents.Event, data map[string]any) error {
	var ch profile.Change
	if err := json.Unmarshal(ev.Data(), &ch); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID(), err)
	}
	prof := &profile.Profile{Customer: customer, Snapshot: ch.After}
	in := campaign.Input{Event: map[string]any{"type": ev.Type(), "time": ev.Time(), "data": data}, Change: data, Profile: profileVars(prof)}
	for i := range e.campaigns.Campaigns {
		c := &e.campaigns.Campaigns[i]
		if !onEntry(c, ev.Type()) {
			continue
		}
		if ok, err := c.Matches(in); err != nil || !ok {
			continue
		}
		if _, _, err := e.decideAs(ctx, T, c, customer, customer, ev.ID(), []string{ev.ID()}, in, prof, Backfill, T); err != nil {
			return err
		}
	}
	return nil
}

func onEntry(c *campaign.Campaign, typ string) bool {
	for _, t := range c.On {
		if t == typ {
			return true
		}
	}
	return false
}

// schedule starts the wait, or restarts it if the campaign says so (keeping
// its first cause, so one wait makes at most one trigger).
func (e *Engine) schedule(ctx context.Context, c *campaign.Campaign, customer string, w wait) error {
	key := pendingKey(customer)
	if !c.Restart {
		// An existing wait stays as it is: write the new one only if there is
		// none, and its timer only if there is none (the wait's own).
		b, _ := json.Marshal(w)
		pipe := e.rdb.Pipeline()
		pipe.HSetNX(ctx, key, c.Name, b)
		pipe.ZAddNX(ctx, dueKey(customer), redis.Z{Score: float64(w.Due.UnixMilli()), Member: member(c.Name, customer)})
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("schedule %s: %w", c.Name, err)
		}
		return nil
	}
	cur, err := e.rdb.HGet(ctx, key, c.Name).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read wait: %w", err)
	}
	if cur != "" {
		var prev wait
		if json.Unmarshal([]byte(cur), &prev) == nil {
			w.Start, w.First, w.Origin = prev.Start, prev.First, prev.Origin
			w.Causes = append(prev.Causes, w.Causes...)
			if !w.Due.After(prev.Due) {
				w.Due = prev.Due // a late entry event does not bring the wait forward
			}
		}
	}
	b, _ := json.Marshal(w)
	pipe := e.rdb.Pipeline()
	pipe.HSet(ctx, key, c.Name, b)
	pipe.ZAdd(ctx, dueKey(customer), redis.Z{Score: float64(w.Due.UnixMilli()), Member: member(c.Name, customer)})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("schedule %s: %w", c.Name, err)
	}
	return nil
}

// cancel ends a wait that started at or before the cancelling event: a
// purchase delivered late still cancels a cart reminder started before it.
func (e *Engine) cancel(ctx context.Context, c *campaign.Campaign, customer string, at time.Time) error {
	cur, err := e.rdb.HGet(ctx, pendingKey(customer), c.Name).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read wait: %w", err)
	}
	var w wait
	if json.Unmarshal([]byte(cur), &w) == nil && w.Start.After(at) {
		return nil
	}
	return e.finish(ctx, c.Name, customer)
}

func (e *Engine) finish(ctx context.Context, campaignName, customer string) error {
	pipe := e.rdb.Pipeline()
	pipe.HDel(ctx, pendingKey(customer), campaignName)
	pipe.ZRem(ctx, dueKey(customer), member(campaignName, customer))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("finish wait: %w", err)
	}
	return nil
}

// Due decides up to limit waits due at T and returns how many it found.
func (e *Engine) Due(ctx context.Context, T time.Time, limit int) (int, error) {
	zs, err := keyspace.Earliest(ctx, e.rdb, dueKeys(), T.UnixMilli(), limit)
	if err != nil {
		return 0, fmt.Errorf("read due waits: %w", err)
	}
	if len(zs) == 0 {
		return 0, nil
	}
	due := make([]string, len(zs))
	names := make([]string, len(zs))
	customers := make([]string, len(zs))
	for i, z := range zs {
		due[i] = fmt.Sprint(z.Member)
		names[i], customers[i], _ = strings.Cut(due[i], "\x00")
	}
	// A wait of a customer merged into another is moved, not decided: a
	// move interrupted by a crash is finished here, and the moved wait's
	// timer is found by the next call.
	into, err := e.mergedInto(ctx, customers)
	if err != nil {
		return 0, err
	}
	if len(into) > 0 {
		for from, u := range into {
			if err := e.follow(ctx, from, u); err != nil {
				return 0, err
			}
		}
		kept := 0
		pipe := e.rdb.Pipeline()
		for i := range due {
			if _, ok := into[customers[i]]; ok {
				pipe.ZRem(ctx, dueKey(customers[i]), due[i])
				continue
			}
			names[kept], customers[kept] = names[i], customers[i]
			kept++
		}
		names, customers = names[:kept], customers[:kept]
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("remove the timers of merged customers: %w", err)
		}
		if len(customers) == 0 {
			return len(due), nil
		}
	}
	// Read the waits and their customers' profiles in two round trips.
	cmds := make([]*redis.StringCmd, len(customers))
	pipe := e.rdb.Pipeline()
	for i := range customers {
		cmds[i] = pipe.HGet(ctx, pendingKey(customers[i]), names[i])
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read due waits: %w", err)
	}
	ps, err := e.profiles.Get(ctx, T, customers)
	if err != nil {
		return 0, err
	}
	e.outbox = e.outbox[:0]
	err = e.byCustomer(len(customers), func(i int) string { return customers[i] }, func(i int) error {
		if name, ok := strings.CutPrefix(names[i], journeyTimer); ok {
			return e.fireJourney(ctx, T, name, customers[i], &ps[i])
		}
		return e.fire(ctx, T, names[i], customers[i], cmds[i].Val(), &ps[i])
	})
	if err != nil {
		return 0, err
	}
	return len(due), e.flush(ctx)
}

// Backlog returns how many waits' timers fall due at or before T, across
// every shard of the timers, in one pipeline.
func Backlog(ctx context.Context, rdb redis.UniversalClient, T time.Time) (int64, error) {
	n, err := keyspace.CountUpTo(ctx, rdb, dueKeys(), T.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("count wait timers: %w", err)
	}
	return n, nil
}

// fire decides one wait that fell due: if the campaign's premise still holds
// for the profile as it is now, and no purchase came after the wait began.
func (e *Engine) fire(ctx context.Context, T time.Time, name, customer, cur string, prof *profile.Profile) error {
	c := e.campaign(name)
	var w wait
	if c == nil || cur == "" || json.Unmarshal([]byte(cur), &w) != nil {
		return e.finish(ctx, name, customer) // a campaign removed from the file, or a wait already done
	}
	if w.Due.After(T) {
		// Restarted meanwhile: the timer belongs at the wait's due time.
		return e.rdb.ZAdd(ctx, dueKey(customer), redis.Z{Score: float64(w.Due.UnixMilli()), Member: member(name, customer)}).Err()
	}
	in := campaign.Input{Event: w.Event, Change: w.Change, Profile: profileVars(prof)}
	if t, ok := w.Event["time"].(string); ok { // JSON round trip
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			in.Event["time"] = ts
		}
	}
	ok, err := c.Matches(in)
	if c.Cancels(event.OrderCompleted) && !prof.Last.Before(w.Start) {
		ok = false // bought since the wait began, whatever order the events came in
	}
	outcome := ""
	if err != nil || !ok {
		outcome = Premise
	}
	origin := w.Origin
	if origin == "" {
		origin = customer
	}
	_, waiting, err := e.decideAs(ctx, T, c, customer, origin, w.First, w.Causes, in, prof, outcome, w.Due)
	if err != nil || waiting {
		return err
	}
	if err := e.finish(ctx, name, customer); err != nil {
		return err
	}
	if c.Kind == campaign.KindBirthday || c.Kind == campaign.KindHabit {
		// The next birthday, the next week's habit.
		occasion, _ := w.Event["data"].(map[string]any)
		return e.next(ctx, c, customer, occasion, w.Due.Add(time.Minute), w.First)
	}
	return nil
}

func (e *Engine) campaign(name string) *campaign.Campaign {
	for i := range e.campaigns.Campaigns {
		if e.campaigns.Campaigns[i].Name == name {
			return &e.campaigns.Campaigns[i]
		}
	}
	return nil
}

func (e *Engine) decide(ctx context.Context, T time.Time, c *campaign.Campaign, customer, origin, first string, causes []string, in campaign.Input, prof *profile.Profile) error {
	_, _, err := e.decideAs(ctx, T, c, customer, origin, first, causes, in, prof, "", T)
	return err
}

// decideAs decides for customer once per (campaign, origin, first cause) and
// publishes the decision, once. The origin is the customer the entry began
// for: customer, or one merged into customer since. A non-empty outcome is a
// suppression decided by the caller. It returns the outcome, the same on a
// redelivery. During quiet hours it waits instead, and says so.
func (e *Engine) decideAs(ctx context.Context, T time.Time, c *campaign.Campaign, customer, origin, first string, causes []string, in campaign.Input, prof *profile.Profile, outcome string, due time.Time) (got string, waiting bool, err error) {
	id := decisionID(c.Name, origin, first)
	variant, held := campaign.Assign(c.Name, customer, c.Variants, c.Holdout)
	if outcome == "" && held {
		outcome = Holdout
	}
	if outcome == "" && !prof.Consent[c.Channel] {
		outcome = Consent
	}
	if outcome == "" && e.campaigns.QuietHours != nil {
		tz, _ := prof.Traits["timezone"].(string)
		loc := e.campaigns.Location(tz)
		if next := e.campaigns.QuietHours.Next(T, loc); next.After(T) {
			w := wait{Start: T, Due: next, First: first, Causes: causes, Event: in.Event, Change: in.Change}
			if origin != customer {
				w.Origin = origin
			}
			return "", true, e.schedule(ctx, &campaign.Campaign{Name: c.Name, Restart: true}, customer, w)
		}
	}
	var slot string
	if outcome == "" && c.DailyBudget > 0 {
		// The budget counts days in the campaigns' time zone.
		day := T.In(e.campaigns.Location("")).Format("2006-01-02")
		slot = budgetKey(c.Name, day)
		ok, err := budgetScript.Run(ctx, e.rdb, []string{slot}, id, c.DailyBudget, 2*86400).Int()
		if err != nil {
			return "", false, fmt.Errorf("daily budget of %s: %w", c.Name, err)
		}
		if ok == 0 {
			outcome, slot = Budget, ""
		}
	}
	// The coupon's code is taken before the guards that need the send
	// history, and given back if they refuse the send.
	def := c.CouponOf(variant)
	cdec := coupon.Decision{ID: id, Campaign: c.Name, Variant: variant, Customer: customer, Tier: prof.Tier, At: T}
	var issued coupon.Issued
	var why coupon.Unavailable
	if outcome == "" && def != nil {
		if issued, why, err = e.coupons.Reserve(ctx, def, cdec); err != nil {
			return "", false, err
		}
		if issued.Code == "" {
			outcome = NoCoupon
		}
	}
	code := issued.Code
	args := []any{id, T.UnixMilli(), c.Name, outcome, time.Duration(c.Cooldown).Milliseconds(), len(c.Caps)}
	for _, cp := range c.Caps {
		args = append(args, cp.Max, time.Duration(cp.Per).Milliseconds())
	}
	args = append(args, "|")
	for _, cp := range e.campaigns.Caps {
		args = append(args, cp.Max, time.Duration(cp.Per).Milliseconds())
	}
	got, err = decideScript.Run(ctx, e.rdb, []string{decidedKey(customer), sentKey(customer), campaignSentKey(customer, c.Name), lastKey(customer)}, args...).Text()
	if err != nil {
		return "", false, fmt.Errorf("decide %s for a customer: %w", c.Name, err)
	}
	got, published := strings.CutSuffix(got, "|p")
	if code != "" {
		if got == Sent {
			err = e.coupons.Confirm(ctx, code, cdec)
		} else {
			err = e.coupons.Release(ctx, def, code, id)
		}
		if err != nil {
			return "", false, err
		}
	}
	if slot != "" && got != Sent {
		// Capped or cooling down: the budget slot goes back. (A crash before
		// this leaves the slot taken: the budget errs on the side of sending less.)
		if err := e.rdb.SRem(ctx, slot, id).Err(); err != nil {
			return "", false, fmt.Errorf("return budget slot: %w", err)
		}
	}
	if published {
		return got, false, nil // decided and announced before this redelivery
	}
	d := Decision{
		Campaign: c.Name, Kind: c.Kind, Variant: variant, Customer: customer, Channel: c.Channel, Outcome: got,
		Profile: Snapshot{Stage: string(prof.Stage), Segment: prof.Segment, Tier: prof.Tier},
		Reason:  Reason{Rule: c.When, Events: causes}, DecidedAt: T,
	}
	if got == Sent {
		d.Action.Type = c.ActionType(variant)
		if d.Action.Params, err = c.Params(in, variant); err != nil {
			d.Action.Params = map[string]string{}
		}
		if code != "" {
			d.Coupon = &issued
		}
		if err := e.credit(ctx, customer, id, d.Action, T); err != nil {
			return "", false, err
		}
	}
	if got == NoCoupon && why != "" {
		d.Reason.Detail = fmt.Sprintf("coupon %s: %s", def.Name, why)
	}
	m, err := d.message(id)
	if err != nil {
		return "", false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range e.outbox {
		if o.id == id {
			return got, false, nil // the same decision twice in one batch
		}
	}
	e.outbox = append(e.outbox, announcement{id: id, msg: m, decision: d, late: T.Sub(due)})
	return got, false, nil
}

// announcement is a decision made and not yet published.
type announcement struct {
	id       string
	msg      kafka.Message
	decision Decision
	late     time.Duration
}

// flush publishes the decisions made since the last flush in one write, then
// marks them published and records exposures for attribution. A crash before
// the marks announces them again, with the same ids.
func (e *Engine) flush(ctx context.Context) error {
	if len(e.outbox) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(e.outbox))
	for i, o := range e.outbox {
		msgs[i] = o.msg
	}
	if err := e.out.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d decisions: %w", len(msgs), err)
	}
	pipe := e.rdb.Pipeline()
	for _, o := range e.outbox {
		d := o.decision
		pipe.HSet(ctx, decidedKey(d.Customer), o.id, d.Outcome+"|p")
		if d.Outcome == Sent || d.Outcome == Holdout {
			expose(ctx, pipe, d.Campaign, d.Customer, d.Variant, d.Outcome, d.DecidedAt)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("mark decisions published: %w", err)
	}
	for _, o := range e.outbox {
		if e.Decided != nil {
			e.Decided(o.decision, o.late)
		}
	}
	e.outbox = e.outbox[:0]
	return nil
}

func decisionID(campaign, customer, first string) string {
	h := sha256.Sum256([]byte(campaign + "\x00" + customer + "\x00" + first))
	return hex.EncodeToString(h[:16])
}

// Decision is the data of a trigger or suppression CloudEvent.
type Decision struct {
	Campaign  string    `json:"campaign"`
	Kind      string    `json:"kind"`
	Variant   string    `json:"variant,omitempty"`
	Customer  string    `json:"customer"`
	Channel   string    `json:"channel"`
	Outcome   string    `json:"outcome"`
	Action    Action    `json:"action,omitzero"`
	Profile   Snapshot  `json:"profile"`
	Reason    Reason    `json:"reason"`
	DecidedAt time.Time `json:"decided_at"`

	// Coupon is the code a trigger of a campaign with a coupon carries.
	Coupon *coupon.Issued `json:"coupon,omitempty"`
}

// Action is what marketing automation should do.
type Action struct {
	Type   string            `json:"type"`
	Params map[string]string `json:"params,omitempty"`
}

// Snapshot is the customer's segmentation when the decision was made.
type Snapshot struct {
	Stage   string `json:"stage"`
	Segment string `json:"segment,omitempty"`
	Tier    string `json:"tier,omitempty"`
}

// Reason says why: the campaign's rule and the events that caused the entry.
type Reason struct {
	Rule   string   `json:"rule,omitempty"`
	Events []string `json:"events"`
	// Detail says more where the outcome alone does not (no_coupon).
	Detail string `json:"detail,omitempty"`
}

func (d Decision) message(id string) (kafka.Message, error) {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("/trigger/" + d.Campaign)
	e.SetTime(d.DecidedAt)
	e.SetExtension(event.ExtPartitionKey, d.Customer)
	topic := TopicTriggers
	e.SetType(TypeTrigger)
	if d.Outcome != Sent {
		topic = TopicDecisions
		e.SetType(TypeSuppressed)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, d); err != nil {
		return kafka.Message{}, err
	}
	return stream.ToMessage(topic, e)
}

// profileVars is what campaign expressions see of a profile.
func profileVars(p *profile.Profile) map[string]any {
	consent := make(map[string]any, len(p.Consent))
	for ch, ok := range p.Consent {
		consent[ch] = ok
	}
	traits := make(map[string]any, len(p.Traits))
	for k, v := range p.Traits {
		traits[k] = v
	}
	tags := make([]any, len(p.Tags))
	for i, t := range p.Tags {
		tags[i] = t
	}
	return map[string]any{
		"stage": string(p.Stage), "segment": p.Segment, "r_score": int64(p.RScore), "f_score": int64(p.FScore), "m_score": int64(p.MScore),
		"tier": p.Tier, "tags": tags, "waterfall": p.Waterfall, "orders": int64(p.Orders),
		"lifetime": float64(p.Lifetime) / 1e6, "cart_value": float64(p.CartValue) / 1e6,
		"traits": traits, "consent": consent,
	}
}
