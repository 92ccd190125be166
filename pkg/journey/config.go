package journey

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/segflow/segflow/pkg/campaign"
)

// End is the Next of a step that ends the journey.
const End = "end"

// Never is the Reentry of a journey a customer enters once.
const Never = "never"

// Config is the trigger service's journey configuration. Use it once Parse
// or Load has checked and compiled it; it is then safe for concurrent use,
// and a reload is a new Config swapped in whole.
type Config struct {
	Journeys []Journey `yaml:"journeys"`
}

// Journey is one version of a journey; see the package documentation.
type Journey struct {
	// Name identifies the journey in decisions and reports; Name and Version
	// are unique together.
	Name string `yaml:"name"`
	// Version is the version customers in flight stay on; default 1.
	Version int `yaml:"version"`
	// Retired versions take no new entries and carry on with the customers
	// in flight.
	Retired bool `yaml:"retired"`
	// Entry is what enters a customer.
	Entry Trigger `yaml:"entry"`
	// Goal ends the journey as reached (a purchase); Exit lists what else
	// ends it (leaving a segment, consent withdrawn).
	Goal *Trigger  `yaml:"goal"`
	Exit []Trigger `yaml:"exit"`
	// Reentry is "never" (the default) or a cooldown from the previous entry
	// after which a customer who finished may enter again ("3d").
	Reentry string `yaml:"reentry"`
	// Holdout is the share of customers held out as control, 0 to 0.5.
	Holdout float64 `yaml:"holdout"`
	// Attribution is the window after an entry or a send in which a purchase
	// is a conversion; 0 means campaign.DefaultAttribution.
	Attribution campaign.Duration `yaml:"attribution"`
	// Steps run in order, unless a step says otherwise.
	Steps []Step `yaml:"steps"`

	cooldown time.Duration // -1: never
	index    map[string]int
}

// Trigger is events of the types in On for which When holds.
type Trigger struct {
	On   []string `yaml:"on"`
	When string   `yaml:"when"`

	when *campaign.Condition
}

// Step is one step; exactly one of Send, Wait, Until, WaitFor, If and Split
// is set.
type Step struct {
	// Name identifies the step in decisions, reports and Next; unique in
	// the journey, and not "end".
	Name string `yaml:"name"`
	// Next is the step after this one; "" is the following step, "end"
	// ends the journey. After a wait_for, Next is where its timeout goes.
	Next string `yaml:"next"`

	Send    *Send             `yaml:"send"`
	Wait    campaign.Duration `yaml:"wait"`
	Until   string            `yaml:"until"` // HH:MM in the customer's time zone
	WaitFor *WaitFor          `yaml:"wait_for"`
	If      string            `yaml:"if"`
	Then    string            `yaml:"then"` // for if; "" is the following step
	Else    string            `yaml:"else"` // for if; "" is the following step
	Split   []Arm             `yaml:"split"`

	kind     Kind
	cond     *campaign.Condition
	until    int                // minutes since midnight
	campaign *campaign.Campaign // of a send step
}

// Send is a send step's trigger, checked and carried as a campaign's.
type Send struct {
	Channel string          `yaml:"channel"`
	Action  campaign.Action `yaml:"action"`
	// Coupon names one of the campaigns file's coupons.
	Coupon string         `yaml:"coupon"`
	Caps   []campaign.Cap `yaml:"caps"`
}

// WaitFor waits for an event of a type in On for which When holds, for at
// most Timeout.
type WaitFor struct {
	Trigger `yaml:",inline"`
	Timeout campaign.Duration `yaml:"timeout"`
	// Then is the step after the event; "" is the following step.
	Then string `yaml:"then"`
}

// Arm is a branch of a split.
type Arm struct {
	Name   string  `yaml:"name"`
	Weight float64 `yaml:"weight"`
	Next   string  `yaml:"next"` // "" is the following step
}

// Kind is what a step does.
type Kind string

// Kinds of step.
const (
	KindSend    Kind = "send"
	KindWait    Kind = "wait"
	KindWaitFor Kind = "wait_for"
	KindIf      Kind = "if"
	KindSplit   Kind = "split"
)

// Kind returns what s does.
func (s *Step) Kind() Kind { return s.kind }

// Campaign returns the campaign a send step's decisions are made as: named
// CampaignName(j, step), of kind campaign.KindJourney; nil for other steps.
func (s *Step) Campaign() *campaign.Campaign { return s.campaign }

// ID names a version of a journey in keys, decisions and reports:
// "<name>@<version>".
func (j *Journey) ID() string { return j.Name + "@" + strconv.Itoa(j.Version) }

// CampaignPrefix begins every CampaignName.
const CampaignPrefix = "journey:"

// CampaignName is the campaign name of a step's decisions:
// "journey:<name>@<version>/<step>"; of the journey's own entries, step "".
func CampaignName(j *Journey, step string) string {
	if step == "" {
		return CampaignPrefix + j.ID()
	}
	return CampaignPrefix + j.ID() + "/" + step
}

// OfCampaign returns the journey, in c, of a campaign name that
// CampaignName made; nil for any other name.
func (c *Config) OfCampaign(name string) *Journey {
	rest, ok := strings.CutPrefix(name, CampaignPrefix)
	if !ok {
		return nil
	}
	id, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return nil
	}
	v, err := strconv.Atoi(id[at+1:])
	if err != nil {
		return nil
	}
	return c.Get(id[:at], v)
}

// Step returns the step called name, or nil.
func (j *Journey) Step(name string) *Step {
	i, ok := j.index[name]
	if !ok {
		return nil
	}
	return &j.Steps[i]
}

// Reenters reports whether a customer who entered at prev and finished may
// enter again at t.
func (j *Journey) Reenters(prev, t time.Time) bool {
	return j.cooldown >= 0 && !t.Before(prev.Add(j.cooldown))
}

// Get returns the journey called name at version, or nil.
func (c *Config) Get(name string, version int) *Journey {
	if c == nil {
		return nil
	}
	for i := range c.Journeys {
		if j := &c.Journeys[i]; j.Name == name && j.Version == version {
			return j
		}
	}
	return nil
}

// Broadcastable returns the version of journey name that takes entries
// (not retired) and whose entry takes broadcasts (campaign.BroadcastEvent
// in its on), or an error saying why there is none.
func (c *Config) Broadcastable(name string) (*Journey, error) {
	if c != nil {
		for i := range c.Journeys {
			if j := &c.Journeys[i]; j.Name == name && !j.Retired {
				if !slices.Contains(j.Entry.On, campaign.BroadcastEvent) {
					return nil, fmt.Errorf("journey %q: its entry does not take %s", name, campaign.BroadcastEvent)
				}
				return j, nil
			}
		}
	}
	return nil, fmt.Errorf("journey %q: not in the journeys file, or none of its versions takes entries", name)
}

// Load reads and checks the Config in the YAML file at path; see Parse.
func Load(path string, campaigns *campaign.Config) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load journeys: %w", err)
	}
	c, err := Parse(b, campaigns)
	if err != nil {
		return nil, fmt.Errorf("load journeys %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a Config from YAML, checks it, fills in defaults and compiles
// its expressions. Send steps are checked as campaigns of campaigns, whose
// coupons they may name. Unknown fields are errors; Parse reports every
// problem it finds, each naming the journey, the step and the field.
func Parse(b []byte, campaigns *campaign.Config) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid journey config: %w", err)
	}
	if campaigns == nil {
		campaigns = &campaign.Config{}
	}
	var errs []error
	seen, taking := map[string]bool{}, map[string]bool{}
	for i := range c.Journeys {
		j := &c.Journeys[i]
		if j.Version == 0 {
			j.Version = 1
		}
		label := fmt.Sprintf("journey #%d", i+1)
		if j.Name != "" {
			label = fmt.Sprintf("journey %q version %d", j.Name, j.Version)
		}
		if seen[j.ID()] {
			errs = append(errs, fmt.Errorf("%s: name and version: used by an earlier journey", label))
		}
		seen[j.ID()] = true
		if !j.Retired {
			if taking[j.Name] {
				errs = append(errs, fmt.Errorf("%s: retired: another version of the journey takes entries; retire all but one", label))
			}
			taking[j.Name] = true
		}
		for _, err := range j.compile(campaigns) {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid journey config: %w", err)
	}
	return &c, nil
}

// Matches reports whether an event of type typ with in enters (or ends) as t says.
func (t *Trigger) Matches(typ string, in campaign.Input) (bool, error) {
	if t == nil || !slices.Contains(t.On, typ) {
		return false, nil
	}
	return t.when.Holds(in)
}
