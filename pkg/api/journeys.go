package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/trigger"
)

// JourneyResult is the results of one version of a journey. Entered counts
// the customers who entered it (treated) and those held out, with the
// purchases within the journey's attribution window after the entry and the
// lift over the holdout; each step and branch arm is compared with the same
// holdout.
type JourneyResult struct {
	Journey string           `json:"journey"`
	Version int              `json:"version"`
	Retired bool             `json:"retired,omitempty"`
	Entered CampaignResult   `json:"entered"`
	Ended   map[string]int64 `json:"ended"`
	// InFlight is how many treated customers are still in the journey: the
	// version can be removed from the file once it is 0.
	InFlight int64        `json:"in_flight"`
	Steps    []StepResult `json:"steps"`
}

// StepResult is one step's results: how many customers reached it and, for
// a send, what was sent and converted; for an if or a split, each arm's.
type StepResult struct {
	Step    string      `json:"step"`
	Kind    string      `json:"kind"`
	Reached int64       `json:"reached"`
	Sent    *Arm        `json:"sent,omitempty"`
	Arms    []BranchArm `json:"arms,omitempty"`
}

// BranchArm is an arm of an if ("then", "else") or of a split.
type BranchArm struct {
	Arm     string `json:"arm"`
	Reached int64  `json:"reached"`
	Result  Arm    `json:"result"`
}

// JourneyCounts reads the counts of a journey version.
type JourneyCounts interface {
	JourneyCounts(ctx context.Context, id string) (map[string]int64, error)
}

func (s *Server) getJourneys(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	out := []JourneyResult{}
	var cfg *journey.Config
	if s.cfg.Journeys != nil {
		cfg = s.cfg.Journeys()
	}
	counter, _ := s.results.(JourneyCounts)
	if cfg == nil || counter == nil {
		writeJSON(w, http.StatusOK, map[string]any{"journeys": out})
		return nil
	}
	q := r.URL.Query().Get("journey")
	for i := range cfg.Journeys {
		j := &cfg.Journeys[i]
		if q != "" && q != j.Name {
			continue
		}
		counts, err := counter.JourneyCounts(ctx, j.ID())
		if err != nil {
			return err
		}
		entry := journey.CampaignName(j, "")
		res, err := s.results.Results(ctx, entry)
		if err != nil {
			return err
		}
		var held []trigger.Result
		for _, r := range res {
			if r.Group == trigger.Held {
				held = append(held, r)
			}
		}
		// Each step and arm against the journey's holdout.
		against := func(name string) (Arm, error) {
			res, err := s.results.Results(ctx, name)
			if err != nil {
				return Arm{}, err
			}
			return s.campaignResult(name, append(slices.DeleteFunc(res, func(r trigger.Result) bool { return r.Group == trigger.Held }), held...)).Treated, nil
		}
		jr := JourneyResult{Journey: j.Name, Version: j.Version, Retired: j.Retired, Entered: s.campaignResult(entry, res), Ended: map[string]int64{}}
		jr.InFlight = jr.Entered.Treated.Decided
		for k, n := range counts {
			if how, ok := strings.CutPrefix(k, "ended|"); ok {
				jr.Ended[how] = n
				if how != string(trigger.EndedHoldout) {
					jr.InFlight -= n
				}
			}
		}
		for _, st := range j.Steps {
			sr := StepResult{Step: st.Name, Kind: string(st.Kind()), Reached: counts[st.Name+"|reached"]}
			switch st.Kind() {
			case journey.KindSend:
				a, err := against(journey.CampaignName(j, st.Name))
				if err != nil {
					return err
				}
				sr.Sent = &a
			case journey.KindIf, journey.KindSplit:
				arms := []string{"then", "else"}
				if st.Kind() == journey.KindSplit {
					arms = arms[:0]
					for _, a := range st.Split {
						arms = append(arms, a.Name)
					}
				}
				for _, name := range arms {
					arm := st.Name + ":" + name
					a, err := against(journey.CampaignName(j, arm))
					if err != nil {
						return err
					}
					sr.Reached += counts[arm+"|reached"]
					sr.Arms = append(sr.Arms, BranchArm{Arm: name, Reached: counts[arm+"|reached"], Result: a})
				}
			}
			jr.Steps = append(jr.Steps, sr)
		}
		out = append(out, jr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"journeys": out})
	return nil
}
