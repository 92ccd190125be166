package journey

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
)

// The checks Parse makes of each journey, its triggers and its steps, which
// also fill in defaults and compile expressions.

func (j *Journey) compile(campaigns *campaign.Config) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if j.Name == "" {
		fail("name: missing")
	}
	if j.Version < 1 {
		fail("version: %d is not a positive number", j.Version)
	}
	if len(j.Entry.On) == 0 {
		fail("entry: on: missing; list the event types that enter the journey")
	}
	errs = append(errs, j.Entry.compile("entry")...)
	if j.Goal != nil {
		errs = append(errs, j.Goal.compile("goal")...)
		if len(j.Goal.On) == 0 {
			fail("goal: on: missing")
		}
	}
	for i := range j.Exit {
		errs = append(errs, j.Exit[i].compile(fmt.Sprintf("exit[%d]", i))...)
		if len(j.Exit[i].On) == 0 {
			fail("exit[%d]: on: missing", i)
		}
	}
	switch j.Reentry {
	case "", Never:
		j.cooldown = -1
	default:
		var d campaign.Duration
		if err := yaml.Unmarshal([]byte(j.Reentry), &d); err != nil {
			fail("reentry: %q is neither never nor a duration (e.g. 3d)", j.Reentry)
		}
		j.cooldown = time.Duration(d)
	}
	if !(j.Holdout >= 0 && j.Holdout <= 0.5) {
		fail("holdout: %v is not between 0 and 0.5", j.Holdout)
	}
	if j.Attribution == 0 {
		j.Attribution = campaign.Duration(campaign.DefaultAttribution)
	}
	if len(j.Steps) == 0 {
		fail("steps: missing")
	}
	j.index = map[string]int{}
	for i, s := range j.Steps {
		switch {
		case s.Name == "":
			fail("step #%d: name: missing", i+1)
		case s.Name == End:
			fail("step #%d: name: %q ends the journey; call the step something else", i+1, End)
		case dup(j.index, s.Name):
			fail("step %q: name: used by an earlier step", s.Name)
		}
		j.index[s.Name] = i
	}
	for i := range j.Steps {
		for _, err := range j.Steps[i].compile(j, campaigns) {
			errs = append(errs, fmt.Errorf("step %q: %w", j.Steps[i].Name, err))
		}
	}
	if len(errs) == 0 {
		if loop := j.branchLoop(); loop != "" {
			fail("steps: %s branch back to themselves with no send or wait between", loop)
		}
	}
	return errs
}

func dup(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

func (t *Trigger) compile(field string) []error {
	var errs []error
	for i, typ := range t.On {
		if typ == "profile.changed" {
			t.On[i] = event.ProfileChanged
		}
	}
	for _, typ := range t.On {
		if typ == campaign.BroadcastEvent && field != "entry" {
			errs = append(errs, fmt.Errorf("%s: on: %s: a broadcast only enters a journey", field, typ))
		} else if typ != event.ProfileChanged && typ != campaign.BroadcastEvent && !slices.Contains(event.Types, typ) {
			errs = append(errs, fmt.Errorf("%s: on: %q is not an event type (e.g. segflow.cart.product_added, profile.changed, segflow.broadcast for an entry)", field, typ))
		}
	}
	var err error
	if t.when, err = campaign.NewCondition(field+": when", t.When); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (s *Step) compile(j *Journey, campaigns *campaign.Config) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var kinds []Kind
	if s.Send != nil {
		kinds = append(kinds, KindSend)
	}
	if s.Wait != 0 || s.Until != "" {
		kinds = append(kinds, KindWait)
	}
	if s.WaitFor != nil {
		kinds = append(kinds, KindWaitFor)
	}
	if s.If != "" {
		kinds = append(kinds, KindIf)
	}
	if len(s.Split) > 0 {
		kinds = append(kinds, KindSplit)
	}
	if len(kinds) != 1 {
		fail("exactly one of send, wait or until, wait_for, if and split must be set")
		return errs
	}
	s.kind = kinds[0]
	target := func(field, name string) {
		if name != "" && name != End && j.Step(name) == nil {
			fail("%s: %q is not a step of the journey", field, name)
		}
	}
	target("next", s.Next)
	if (s.Then != "" || s.Else != "") && s.kind != KindIf {
		fail("then, else: only an if step branches on them")
	}
	switch s.kind {
	case KindSend:
		c := &campaign.Campaign{Name: CampaignName(j, s.Name), Kind: campaign.KindJourney, Channel: s.Send.Channel,
			Action: s.Send.Action, Coupon: s.Send.Coupon, Caps: s.Send.Caps, Attribution: j.Attribution}
		if err := campaigns.CompileStep(c); err != nil {
			fail("send: %w", err)
		}
		s.campaign = c
	case KindWait:
		if s.Wait != 0 && s.Until != "" {
			fail("wait, until: one or the other")
		}
		if s.Until != "" {
			t, err := time.Parse("15:04", s.Until)
			if err != nil {
				fail("until: %q is not a time of day HH:MM", s.Until)
			}
			s.until = t.Hour()*60 + t.Minute()
		}
	case KindWaitFor:
		if len(s.WaitFor.On) == 0 {
			fail("wait_for: on: missing")
		}
		if s.WaitFor.Timeout == 0 {
			fail("wait_for: timeout: missing")
		}
		errs = append(errs, s.WaitFor.Trigger.compile("wait_for")...)
		target("wait_for: then", s.WaitFor.Then)
	case KindIf:
		var err error
		if s.cond, err = campaign.NewCondition("if", s.If); err != nil {
			errs = append(errs, err)
		}
		target("then", s.Then)
		target("else", s.Else)
	case KindSplit:
		names := map[string]int{}
		for i, a := range s.Split {
			if a.Name == "" || dup(names, a.Name) {
				fail("split[%d]: name: missing or used by an earlier arm", i)
			}
			names[a.Name] = i
			if !(a.Weight > 0 && a.Weight <= math.MaxFloat64) {
				fail("split[%d]: weight: %v is not a positive number", i, a.Weight)
			}
			target(fmt.Sprintf("split[%d]: next", i), a.Next)
		}
	}
	return errs
}

// branchLoop returns the steps of a cycle of ifs and splits, which a walk
// would go round for ever, as "a → b → a"; "" if there is none.
func (j *Journey) branchLoop() string {
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, len(j.Steps))
	var path []string
	var visit func(i int) string
	visit = func(i int) string {
		if i < 0 || i >= len(j.Steps) {
			return ""
		}
		s := &j.Steps[i]
		if s.kind != KindIf && s.kind != KindSplit {
			return ""
		}
		switch state[i] {
		case open:
			return strings.Join(append(path, s.Name), " → ")
		case done:
			return ""
		}
		state[i] = open
		path = append(path, s.Name)
		nexts := []string{s.Then, s.Else}
		if s.kind == KindSplit {
			nexts = nexts[:0]
			for _, a := range s.Split {
				nexts = append(nexts, a.Next)
			}
		}
		for _, next := range nexts {
			if loop := visit(j.after(i, next)); loop != "" {
				return loop
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return ""
	}
	for i := range j.Steps {
		if loop := visit(i); loop != "" {
			return loop
		}
	}
	return ""
}
