package journey

import (
	"fmt"
	"time"

	"github.com/segflow/segflow/pkg/campaign"
)

// Stop is where a walk through a journey stops: at a send, a wait, or the end.
type Stop struct {
	// Step is the send, wait or wait_for step stopped at; nil at the end.
	Step *Step
	// Due is when a wait or wait_for stopped at ends (for wait_for, its
	// timeout).
	Due time.Time
	// Passed are the branches taken on the way, as "<step>:<arm>" — "then"
	// or "else" for an if, the arm's name for a split.
	Passed []string
}

// maxHops bounds a walk through ifs and splits, which Parse lets loop.
const maxHops = 1000

// Walk goes from the step called from ("" is the first, End the end) through ifs and
// splits to the first send, wait or wait_for, or to the end, and says where
// it stopped. at is when the walk happens (a wait stopped at ends after it),
// customer picks the arm of a split, and loc is the customer's time zone, in
// which a wait until a time of day ends. An if whose condition fails on in
// goes to Else, and the error says why.
func (j *Journey) Walk(from string, in campaign.Input, customer string, at time.Time, loc *time.Location) (Stop, error) {
	var stop Stop
	var failed error
	i := 0
	if from == End {
		return stop, nil
	}
	if from != "" {
		var ok bool
		if i, ok = j.index[from]; !ok {
			return stop, fmt.Errorf("journey %s: no step %q", j.ID(), from)
		}
	}
	for range maxHops {
		if i < 0 || i >= len(j.Steps) {
			return stop, failed
		}
		s := &j.Steps[i]
		switch s.kind {
		case KindSend:
			stop.Step = s
			return stop, failed
		case KindWait:
			stop.Step, stop.Due = s, at.Add(time.Duration(s.Wait))
			if s.Until != "" {
				stop.Due = nextClock(at, s.until, loc)
			}
			return stop, failed
		case KindWaitFor:
			stop.Step, stop.Due = s, at.Add(time.Duration(s.WaitFor.Timeout))
			return stop, failed
		case KindIf:
			ok, err := s.cond.Holds(in)
			if err != nil {
				failed = fmt.Errorf("journey %s: step %s: if: %w", j.ID(), s.Name, err)
			}
			arm, next := "else", s.Else
			if ok {
				arm, next = "then", s.Then
			}
			stop.Passed = append(stop.Passed, s.Name+":"+arm)
			i = j.after(i, next)
		case KindSplit:
			arms := make([]campaign.Variant, len(s.Split))
			for k, a := range s.Split {
				arms[k] = campaign.Variant{Name: a.Name, Weight: a.Weight}
			}
			// By customer and step, so that the arms of two splits are independent.
			name, _ := campaign.Assign(CampaignName(j, s.Name), customer, arms, 0)
			stop.Passed = append(stop.Passed, s.Name+":"+name)
			for _, a := range s.Split {
				if a.Name == name {
					i = j.after(i, a.Next)
				}
			}
		default:
			return stop, fmt.Errorf("journey %s: not compiled: use a Config from Parse or Load", j.ID())
		}
	}
	return stop, fmt.Errorf("journey %s: more than %d ifs and splits in a row from step %q: a loop", j.ID(), maxHops, from)
}

// After returns the step that follows the send or wait called step, with
// next naming it ("" is the following step); "" at the end.
func (j *Journey) After(step, next string) string {
	i := j.after(j.index[step], next)
	if i < 0 || i >= len(j.Steps) {
		return End
	}
	return j.Steps[i].Name
}

// after returns the index of the step after the one at i, for next.
func (j *Journey) after(i int, next string) int {
	switch next {
	case "":
		return i + 1
	case End:
		return -1
	}
	return j.index[next]
}

// nextClock returns the first instant strictly after at when the wall clock
// of loc reads minutes since midnight; on a day that skips that time
// (daylight saving), time.Date's normalisation moves it past the gap.
func nextClock(at time.Time, minutes int, loc *time.Location) time.Time {
	local := at.In(loc)
	y, m, d := local.Date()
	for {
		if t := time.Date(y, m, d, minutes/60, minutes%60, 0, 0, loc); t.After(at) {
			return t
		}
		d++
	}
}
