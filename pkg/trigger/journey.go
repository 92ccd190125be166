package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/profile"
)

// Journeys (pkg/journey). A customer's place in each journey is a position
// in tr:{c}:journeys (hash journey name -> position), with the version they
// entered; while they wait, a timer member(journeyTimer+name, c) in their
// shard of the timers holds the position's due time. A send step is decided
// as a campaign named journey.CampaignName(j, step) with the entry event as
// its first cause, so its decision id is derived from the journey, version,
// step, customer and entry, and a step run again after a crash finds its
// decision made. The position is written after the step's decision, so a
// crash between the two runs the step again and decides nothing new.
//
// Results: the entry is exposed as journey.CampaignName(j, "") — treated or
// holdout — and each send and branch arm as its own name, so that purchases
// are attributed to them as to campaigns (attribution.go); the steps and
// arms reached and how positions ended are counted in
// tr:{#jstats:<journey@version>}.

// Ending is how a customer's journey ended.
type Ending string

// Endings of a journey.
const (
	// EndedEnd: the customer went through the last step.
	EndedEnd Ending = "end"
	// EndedGoal: the goal event came, or the profile shows a purchase after
	// the entry when the goal is a purchase.
	EndedGoal Ending = "goal"
	// EndedExit: an exit event came.
	EndedExit Ending = "exit"
	// EndedHoldout: the customer is in the journey's holdout and gets no step.
	EndedHoldout Ending = "holdout"
	// EndedRemoved: the version the customer was on is no longer in the
	// journeys file.
	EndedRemoved Ending = "version_removed"
)

// position is a customer's place in one journey.
type position struct {
	Version int            `json:"version"`
	Entry   string         `json:"entry"` // id of the entry event
	Entered time.Time      `json:"entered"`
	Step    string         `json:"step,omitempty"` // the step waited at
	Due     time.Time      `json:"due,omitzero"`
	Ended   Ending         `json:"ended,omitempty"` // "" while in flight
	Event   map[string]any `json:"event"`
	Change  map[string]any `json:"change,omitempty"`
	// Origin is the customer the journey began for, when it was moved to
	// another by an identity merge; its decision ids are theirs.
	Origin string `json:"origin,omitempty"`
}

// encode returns pos as it is stored.
func (pos *position) encode() string {
	b, _ := json.Marshal(pos) // of strings, times and JSON values only
	return string(b)
}

// origin returns the customer pos began for.
func (pos *position) origin(customer string) string {
	if pos.Origin != "" {
		return pos.Origin
	}
	return customer
}

// moves is what a journey step changed, written with the position.
type moves struct {
	reached []string  // steps and "<step>:<arm>"
	exposed []string  // campaign names to expose as treated
	holdout bool      // expose the entry as holdout
	at      time.Time // of the exposures
}

// SetJourneys replaces the journeys, between batches. Customers in flight
// on a version no longer in cfg leave that journey when their next step
// comes (EndedRemoved).
func (e *Engine) SetJourneys(cfg *journey.Config) { e.journeys = cfg }

// journeyEvent applies ev to the customer's journeys: goals and exits end
// them, an awaited event moves them on, and an entry event enters them.
func (e *Engine) journeyEvent(ctx context.Context, T time.Time, ev cloudevents.Event, data map[string]any, customer string) error {
	if e.journeys == nil || len(e.journeys.Journeys) == 0 {
		return nil
	}
	typ := ev.Type()
	if !e.journeyType(typ) {
		return nil
	}
	raw, err := e.rdb.HGetAll(ctx, journeysKey(customer)).Result()
	if err != nil {
		return fmt.Errorf("read journey positions: %w", err)
	}
	if !e.entered(typ) && !inFlight(raw) {
		return nil // an exit or goal of a customer in no journey: no profile to read
	}
	prof, err := e.profileOf(ctx, T, customer)
	if err != nil {
		return err
	}
	in := campaign.Input{Event: map[string]any{"type": typ, "time": ev.Time(), "data": data}, Profile: profileVars(prof)}
	if typ == event.ProfileChanged {
		in.Change = data
	}
	for _, name := range sortedKeys(raw) {
		var pos position
		if json.Unmarshal([]byte(raw[name]), &pos) != nil || pos.Ended != "" {
			continue
		}
		j := e.journeys.Get(name, pos.Version)
		// An event from before the entry — a goal delivered late — belongs
		// to an earlier journey; the entry's own event does not end it.
		if j == nil || ev.Time().Before(pos.Entered) || ev.ID() == pos.Entry {
			continue
		}
		if ok, _ := j.Goal.Matches(typ, in); ok {
			if err := e.endJourney(ctx, j, customer, &pos, EndedGoal); err != nil {
				return err
			}
			raw[name] = pos.encode()
			continue
		}
		exited := false
		for i := range j.Exit {
			if ok, _ := j.Exit[i].Matches(typ, in); ok {
				exited = true
			}
		}
		if exited {
			if err := e.endJourney(ctx, j, customer, &pos, EndedExit); err != nil {
				return err
			}
			raw[name] = pos.encode()
			continue
		}
		s := j.Step(pos.Step)
		if s == nil || s.Kind() != journey.KindWaitFor {
			continue
		}
		if ok, _ := s.WaitFor.Matches(typ, in); ok {
			if err := e.advance(ctx, T, j, customer, &pos, j.After(s.Name, s.WaitFor.Then), ev.Time(), prof, moves{}); err != nil {
				return err
			}
			raw[name] = pos.encode()
		}
	}
	for i := range e.journeys.Journeys {
		j := &e.journeys.Journeys[i]
		if j.Retired {
			continue
		}
		if _, err := e.enter(ctx, T, j, customer, ev.ID(), ev.Time(), in, prof, raw); err != nil {
			return err
		}
	}
	return nil
}

// Outcomes of a customer's entry into a journey (enter), as broadcasts
// count them.
const (
	Entered   = "entered"    // entered, treated
	InJourney = "in_journey" // in flight, this very entry again, or not (yet) again by the re-entry rule
)

// enter enters customer into j at T by the entry entry (an event id) of time
// at, if j's entry holds for in, and returns the outcome: Entered, Holdout, InJourney or
// Premise (the entry does not hold). raw are the customer's positions,
// updated.
func (e *Engine) enter(ctx context.Context, T time.Time, j *journey.Journey, customer, entry string, at time.Time, in campaign.Input, prof *profile.Profile, raw map[string]string) (string, error) {
	typ, _ := in.Event["type"].(string)
	if ok, err := j.Entry.Matches(typ, in); err != nil || !ok {
		return Premise, nil // an expression that fails on this entry does not enter it
	}
	if cur, ok := raw[j.Name]; ok {
		var prev position
		if json.Unmarshal([]byte(cur), &prev) == nil &&
			(prev.Ended == "" || prev.Entry == entry || !j.Reenters(prev.Entered, at)) {
			return InJourney, nil
		}
	}
	pos := position{Version: j.Version, Entry: entry, Entered: at, Event: in.Event, Change: in.Change}
	var m moves
	if _, held := campaign.Assign(journey.CampaignName(j, ""), customer, nil, j.Holdout); held {
		pos.Ended, m.holdout = EndedHoldout, true
		if err := e.savePosition(ctx, j, customer, &pos, m); err != nil {
			return "", err
		}
		raw[j.Name] = pos.encode()
		return Holdout, nil
	}
	m.exposed = []string{journey.CampaignName(j, "")}
	if err := e.advance(ctx, T, j, customer, &pos, "", at, prof, m); err != nil {
		return "", err
	}
	raw[j.Name] = pos.encode()
	return Entered, nil
}

// journeyType tells whether an event of type typ enters, ends or moves any
// journey.
func (e *Engine) journeyType(typ string) bool {
	for i := range e.journeys.Journeys {
		j := &e.journeys.Journeys[i]
		if slices.Contains(j.Entry.On, typ) || j.Goal != nil && slices.Contains(j.Goal.On, typ) {
			return true
		}
		for _, x := range j.Exit {
			if slices.Contains(x.On, typ) {
				return true
			}
		}
		for _, s := range j.Steps {
			if s.WaitFor != nil && slices.Contains(s.WaitFor.On, typ) {
				return true
			}
		}
	}
	return false
}

// entered tells whether an event of type typ enters a journey that takes
// entries.
func (e *Engine) entered(typ string) bool {
	for i := range e.journeys.Journeys {
		if j := &e.journeys.Journeys[i]; !j.Retired && slices.Contains(j.Entry.On, typ) {
			return true
		}
	}
	return false
}

// inFlight tells whether any of the positions raw is in flight.
func inFlight(raw map[string]string) bool {
	for _, v := range raw {
		var pos position
		if json.Unmarshal([]byte(v), &pos) == nil && pos.Ended == "" {
			return true
		}
	}
	return false
}

func (e *Engine) profileOf(ctx context.Context, T time.Time, customer string) (*profile.Profile, error) {
	if p := e.profileCache[customer]; p != nil {
		return p, nil
	}
	ps, err := e.profiles.Get(ctx, T, []string{customer})
	if err != nil {
		return nil, err
	}
	return &ps[0], nil
}

// advance walks j from the step called from at time at: it decides each
// send on the way, and stops at a wait or at the end, where it writes the
// position. A send during the customer's quiet hours is waited at until they
// end.
func (e *Engine) advance(ctx context.Context, T time.Time, j *journey.Journey, customer string, pos *position, from string, at time.Time, prof *profile.Profile, m moves) error {
	tz, _ := prof.Traits["timezone"].(string)
	loc := e.campaigns.Location(tz)
	in := campaign.Input{Event: pos.Event, Change: pos.Change, Profile: profileVars(prof)}
	m.at = at
	for {
		stop, _ := j.Walk(from, in, customer, at, loc) // an if that fails goes to its else
		m.reached = append(m.reached, stop.Passed...)
		for _, arm := range stop.Passed {
			m.exposed = append(m.exposed, journey.CampaignName(j, arm))
		}
		s := stop.Step
		if s == nil {
			pos.Step, pos.Due, pos.Ended = "", time.Time{}, EndedEnd
			return e.savePosition(ctx, j, customer, pos, m)
		}
		if pos.Step != s.Name {
			m.reached = append(m.reached, s.Name) // not again when the step is resumed
		}
		pos.Step = s.Name
		if s.Kind() != journey.KindSend {
			pos.Due = stop.Due
			return e.savePosition(ctx, j, customer, pos, m)
		}
		if next := e.campaigns.QuietHours.Next(T, loc); next.After(T) {
			pos.Due = next
			return e.savePosition(ctx, j, customer, pos, m)
		}
		if _, _, err := e.decideAs(ctx, T, s.Campaign(), customer, pos.origin(customer), pos.Entry, []string{pos.Entry}, in, prof, "", T); err != nil {
			return err
		}
		from = j.After(s.Name, s.Next)
	}
}

// endJourney ends a customer's journey as how.
func (e *Engine) endJourney(ctx context.Context, j *journey.Journey, customer string, pos *position, how Ending) error {
	pos.Step, pos.Due, pos.Ended = "", time.Time{}, how
	return e.savePosition(ctx, j, customer, pos, moves{})
}

// savePosition writes pos, its timer and the counts of m in one pipeline.
func (e *Engine) savePosition(ctx context.Context, j *journey.Journey, customer string, pos *position, m moves) error {
	if pos.Ended != "" {
		// An ended position is kept for the re-entry rule, which needs only
		// its entry.
		pos.Event, pos.Change = nil, nil
	}
	timer := member(journeyTimer+j.Name, customer)
	stats := journeyStatsKey(j.ID())
	pipe := e.rdb.Pipeline()
	pipe.HSet(ctx, journeysKey(customer), j.Name, pos.encode())
	if pos.Ended == "" {
		pipe.ZAdd(ctx, dueKey(customer), redis.Z{Score: float64(pos.Due.UnixMilli()), Member: timer})
	} else {
		pipe.ZRem(ctx, dueKey(customer), timer)
		pipe.HIncrBy(ctx, stats, "ended|"+string(pos.Ended), 1)
	}
	for _, r := range m.reached {
		pipe.HIncrBy(ctx, stats, r+"|reached", 1)
	}
	if m.holdout {
		expose(ctx, pipe, journey.CampaignName(j, ""), customer, "", Holdout, pos.Entered)
	}
	for _, name := range m.exposed {
		expose(ctx, pipe, name, customer, campaign.DefaultVariant, Sent, m.at)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("write journey position of %s: %w", j.ID(), err)
	}
	return nil
}

// fireJourney moves on a customer whose wait in the journey called name fell
// due: past a wait or the timeout of a wait_for, or to a send held back by
// quiet hours.
func (e *Engine) fireJourney(ctx context.Context, T time.Time, name, customer string, prof *profile.Profile) error {
	timer := member(journeyTimer+name, customer)
	raw, err := e.rdb.HGet(ctx, journeysKey(customer), name).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read journey position: %w", err)
	}
	var pos position
	if raw == "" || json.Unmarshal([]byte(raw), &pos) != nil || pos.Ended != "" {
		return e.rdb.ZRem(ctx, dueKey(customer), timer).Err() // ended, or erased
	}
	if pos.Due.After(T) {
		return e.rdb.ZAdd(ctx, dueKey(customer), redis.Z{Score: float64(pos.Due.UnixMilli()), Member: timer}).Err()
	}
	j := e.journeys.Get(name, pos.Version)
	if j == nil {
		return e.endJourney(ctx, &journey.Journey{Name: name, Version: pos.Version}, customer, &pos, EndedRemoved)
	}
	if j.Goal != nil && j.Goal.When == "" && slices.Contains(j.Goal.On, event.OrderCompleted) && prof.Last.After(pos.Entered) {
		// Bought since the entry, whether or not the order's event has come.
		return e.endJourney(ctx, j, customer, &pos, EndedGoal)
	}
	s := j.Step(pos.Step)
	if s == nil {
		return e.endJourney(ctx, j, customer, &pos, EndedRemoved)
	}
	from := s.Name // a send held back by quiet hours
	if s.Kind() != journey.KindSend {
		from = j.After(s.Name, s.Next) // a wait, or a wait_for's timeout
	}
	return e.advance(ctx, T, j, customer, &pos, from, pos.Due, prof, moves{})
}

// followJourneys moves the journey positions of customer from, merged into
// customer into, with their timers: a position goes on for into, with the
// customer it began for as its origin, unless into has one of that journey
// (theirs goes on). Doing it again changes nothing.
func (e *Engine) followJourneys(ctx context.Context, from, into string) error {
	raw, err := e.rdb.HGetAll(ctx, journeysKey(from)).Result()
	if err != nil {
		return fmt.Errorf("read the journeys of a merged customer: %w", err)
	}
	if len(raw) == 0 {
		return nil
	}
	var timers []any
	for _, name := range sortedKeys(raw) {
		var pos position
		if json.Unmarshal([]byte(raw[name]), &pos) != nil {
			continue
		}
		pos.Origin = pos.origin(from)
		b, _ := json.Marshal(pos)
		set, err := e.rdb.HSetNX(ctx, journeysKey(into), name, b).Result()
		if err != nil {
			return fmt.Errorf("move the journeys of a merged customer: %w", err)
		}
		if set && pos.Ended == "" {
			if err := e.rdb.ZAdd(ctx, dueKey(into), redis.Z{Score: float64(pos.Due.UnixMilli()), Member: member(journeyTimer+name, into)}).Err(); err != nil {
				return fmt.Errorf("move the journey timers of a merged customer: %w", err)
			}
		}
		timers = append(timers, member(journeyTimer+name, from))
	}
	pipe := e.rdb.Pipeline()
	pipe.Del(ctx, journeysKey(from))
	pipe.ZRem(ctx, dueKey(from), timers...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete the journeys of a merged customer: %w", err)
	}
	return nil
}

// attribution returns the attribution window of the campaign, journey entry
// or journey step called name.
func (e *Engine) attribution(name string) (time.Duration, bool) {
	if c := e.campaign(name); c != nil {
		return time.Duration(c.Attribution), true
	}
	if j := e.journeys.OfCampaign(name); j != nil {
		return time.Duration(j.Attribution), true
	}
	return 0, false
}

// JourneyCounts returns the counts of a journey version (journey.ID): the
// steps and arms reached ("<step>|reached", "<step>:<arm>|reached") and how
// positions ended ("ended|<ending>").
func (e *Engine) JourneyCounts(ctx context.Context, id string) (map[string]int64, error) {
	h, err := e.rdb.HGetAll(ctx, journeyStatsKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read counts of journey %s: %w", id, err)
	}
	out := make(map[string]int64, len(h))
	for k, v := range h {
		out[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
