// Package journey holds multi-step journeys — the declarative configuration
// the trigger service (pkg/trigger) runs customers through — and the pure
// logic of moving through their steps.
//
// # The model
//
// A customer enters a journey on an event of a type in Entry.On for which
// Entry.When holds (CEL over event, profile and change, as a campaign's
// When). A share Holdout of customers, chosen by a hash of the journey and
// the customer (campaign.Assign), is held out: they enter, send nothing, and
// are the control that the journey's and each step's conversions are
// compared with. Entry.When sees the profile as the trigger service reads it
// when the entry event comes, which may be before the profile-updater has
// applied that event: test the event's data there, and the profile in an if
// step after a wait.
//
// The steps run in order unless a step names its Next ("end" ends the
// journey). A step is one of:
//
//   - send: a trigger through a channel, checked by the campaign guards
//     (consent, the caps across campaigns and the step's own, quiet hours)
//     and carrying an action and optionally a coupon code, as a campaign's;
//   - wait: a duration, or until a time of day ("09:00") in the customer's
//     time zone;
//   - wait_for: until an event of a type in On for which When holds (then
//     go to Then), or Timeout (then go to Next);
//   - if: a CEL condition; go to Then when it holds, else to Else;
//   - split: a random split by weight, deterministic by customer.
//
// An event of a type in Goal.On (for which Goal.When holds) ends the
// journey as reached; one matching an Exit ends it as exited. Either ends a
// pending wait even when it arrives after the wait fell due, if its time is
// after the entry. Reentry says whether a customer who finished may enter
// again: never, or after a cooldown from their previous entry.
//
// # Versions
//
// A customer stays on the Version of the journey they entered. An edit that
// changes the steps gives the journey a new version and keeps the old one in
// the file with retired: true — it takes no new entries and carries on with
// the customers in flight — until none is left. A customer whose version is
// no longer in the file leaves the journey when their next step comes.
//
// # Invariant
//
// Walk is a function of its arguments — no clock, no I/O, no randomness —
// so a step replayed after a restart takes the same path, and the decision
// ids the trigger service derives from the journey, version, entry and step
// make each step's decision once.
package journey
