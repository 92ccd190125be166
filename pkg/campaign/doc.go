// Package campaign holds the declarative campaign configuration of the trigger
// service and its decision logic: who enters a campaign, when a trigger may
// fire, which variant a customer gets and what the action carries.
//
// # The model
//
// A campaign is entered by an event: one whose CloudEvent type is in On
// (customer events, or segflow.profile.changed — "profile.changed" for short)
// and for which the CEL condition When holds. Birthday and habit campaigns
// are entered by time instead: at the start of the customer's birthday in
// their time zone (NextBirthday), or Lead before the weekday and hour at which
// they usually buy (Habit, NextHabit). The trigger service schedules that
// instant and enters the campaign with an event of type DueEvent.
//
// After an entry the campaign waits Delay (a durable timer in the service).
// An event of a CancelOn type ends the wait without a trigger; with Restart a
// new entry event restarts the wait (the cart-abandon delay runs from the last
// item added). When the wait ends, When is evaluated again against the profile
// as it is then, so a cart emptied meanwhile (cart_value 0) no longer matches.
// Then the guards: consent for Channel; the caps (Config.Caps across
// campaigns; Campaign.Caps and Cooldown — a cap of one per Cooldown — per
// campaign; CapAllows); the daily budget, counted per calendar day in
// DefaultTimezone; and quiet hours in the customer's time zone, which move the
// trigger to their end (Quiet.Next). Assign splits the audience: a held-out
// customer gets no trigger but the decision is recorded for lift; the others
// get their variant's action with its Params evaluated.
//
// A journey (pkg/journey) chains steps; each of its send steps is decided
// as a campaign of kind KindJourney, checked by Config.CompileStep, with the
// same guards, and its branches and exits are Conditions.
//
// # Expressions
//
// When and the parameters written "${expr}" are CEL (https://cel.dev) over
// three maps (see Input): event (type, time, data), profile (stage, segment,
// r_score, f_score, m_score, tier, tags, waterfall, orders, lifetime,
// cart_value, traits, consent) and change (before, after, changed of a
// profile.changed entry).
// Besides CEL's standard library they may use the strings extension, optional
// values (profile[?"tier"].orValue("")) and comparisons across int and double.
// Parse type-checks every expression, so a When that is not a bool or a
// misspelt function is refused at load, not on each event.
//
// # Invariant
//
// Every decision is a function of its arguments — no clock, no I/O, no
// randomness: times are passed in and variants come from a hash. Live
// processing, replays in event time and tests give the same answers, and a
// customer keeps their variant across restarts and processes.
package campaign
