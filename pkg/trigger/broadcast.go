package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/profile"
)

// ErrNoCampaign is the error of a broadcast to a campaign the engine does
// not have (removed from the campaigns file since the broadcast was made).
var ErrNoCampaign = errors.New("no such campaign")

// Waiting is the outcome Broadcast gives a customer whose decision waits for
// the end of the quiet hours: a timer decides it then, with the same id.
const Waiting = "waiting"

// Broadcast enters customers into campaign name by a broadcast, as of T, and
// decides each through the campaign's guards exactly as a triggered entry
// (consent, caps, cooldown, quiet hours, daily budget, holdout, coupon); a
// condition (When) that does not hold is a premise suppression, so every
// customer gets one decision. cause identifies the broadcast's occurrence:
// a decision's id is derived from the campaign, the customer and cause, so
// deciding the same customers again — a restart, a re-run — announces the
// decisions made before with their ids and makes none twice. It publishes
// the decisions in one write and returns each customer's outcome, the one
// recorded before for a customer decided already, or Waiting.
func (e *Engine) Broadcast(ctx context.Context, T time.Time, name, cause string, customers []string) ([]string, error) {
	if jname, ok := strings.CutPrefix(name, journey.CampaignPrefix); ok {
		return e.broadcastJourney(ctx, T, jname, cause, customers)
	}
	c := e.campaign(name)
	if c == nil {
		return nil, fmt.Errorf("broadcast to campaign %q: %w", name, ErrNoCampaign)
	}
	return e.eachMember(ctx, T, cause, customers, func(customer string, in campaign.Input, prof *profile.Profile) (string, error) {
		outcome := ""
		if ok, err := c.Matches(in); err != nil || !ok {
			outcome = Premise
		}
		got, waiting, err := e.decideAs(ctx, T, c, customer, customer, cause, []string{cause}, in, prof, outcome, T)
		if waiting {
			got = Waiting
		}
		return got, err
	})
}

// eachMember calls decide with each customer, their profile at T and the
// broadcast event of the occurrence cause, a customer at a time (by
// customer, as every decision is made), publishes the decisions made in
// one write and returns the outcomes decide returned.
func (e *Engine) eachMember(ctx context.Context, T time.Time, cause string, customers []string, decide func(customer string, in campaign.Input, prof *profile.Profile) (string, error)) ([]string, error) {
	if len(customers) == 0 {
		return nil, nil
	}
	ps, err := e.profiles.Get(ctx, T, customers)
	if err != nil {
		return nil, err
	}
	e.outbox = e.outbox[:0]
	out := make([]string, len(customers))
	err = e.byCustomer(len(customers), func(i int) string { return customers[i] }, func(i int) error {
		in := campaign.Input{
			Event:   map[string]any{"type": campaign.BroadcastEvent, "time": T, "data": map[string]any{"broadcast": cause}},
			Profile: profileVars(&ps[i]),
		}
		got, err := decide(customers[i], in, &ps[i])
		out[i] = got
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, e.flush(ctx)
}

// broadcastJourney enters customers into the journey called name (the
// version that takes entries) by the occurrence cause: an entry of type
// campaign.BroadcastEvent, which the journey must list in its entry's on.
// Each customer's outcome is Entered, Holdout, InJourney or Premise.
func (e *Engine) broadcastJourney(ctx context.Context, T time.Time, name, cause string, customers []string) ([]string, error) {
	j, err := e.journeys.Broadcastable(name)
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w: %w", err, ErrNoCampaign)
	}
	return e.eachMember(ctx, T, cause, customers, func(customer string, in campaign.Input, prof *profile.Profile) (string, error) {
		raw, err := e.rdb.HGetAll(ctx, journeysKey(customer)).Result()
		if err != nil {
			return "", fmt.Errorf("read journey positions: %w", err)
		}
		return e.enter(ctx, T, j, customer, cause, T, in, prof, raw)
	})
}

// Locations returns each customer's time zone: the one of their profile,
// or the campaigns' default.
func (e *Engine) Locations(ctx context.Context, T time.Time, customers []string) ([]*time.Location, error) {
	ps, err := e.profiles.Get(ctx, T, customers)
	if err != nil {
		return nil, err
	}
	out := make([]*time.Location, len(ps))
	for i := range ps {
		tz, _ := ps[i].Traits["timezone"].(string)
		out[i] = e.campaigns.Location(tz)
	}
	return out, nil
}

// Has tells whether the engine has campaign name.
func (e *Engine) Has(name string) bool { return e.campaign(name) != nil }
