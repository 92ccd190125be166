package broadcast

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/audience"
)

// Kind is when a broadcast sends.
type Kind string

// Kinds of schedule.
const (
	// Now sends once, as soon as the broadcast is made.
	Now Kind = "now"
	// At sends once, at Schedule.At.
	At Kind = "at"
	// Weekly sends every week on Schedule.Weekday at Schedule.Hour.
	Weekly Kind = "weekly"
	// Monthly sends every month on Schedule.Day at Schedule.Hour; a day the
	// month does not have (31 in April) is its last day.
	Monthly Kind = "monthly"
	// Yearly sends every year on Schedule.Date ("MM-DD") at Schedule.Hour:
	// an anniversary. 29 February is 28 February in common years.
	Yearly Kind = "yearly"
)

var kinds = []Kind{Now, At, Weekly, Monthly, Yearly}

// Schedule says when a broadcast sends. The hour of a recurring one is on
// each customer's wall clock (their profile's time zone, or the campaigns'
// default).
type Schedule struct {
	Kind Kind `json:"kind"`
	// At is the time of an At broadcast.
	At time.Time `json:"at,omitzero"`
	// Weekday is a Weekly broadcast's day: "monday" … "sunday".
	Weekday string `json:"weekday,omitempty"`
	// Day is a Monthly broadcast's day of the month, 1–31.
	Day int `json:"day,omitempty"`
	// Date is a Yearly broadcast's date, "MM-DD".
	Date string `json:"date,omitempty"`
	// Hour is a recurring broadcast's hour, 0–23.
	Hour int `json:"hour,omitempty"`
	// Until, if set, ends a recurring broadcast: no occurrence opens after
	// it (each opens when the first time zone reaches its hour).
	Until time.Time `json:"until,omitzero"`
}

// Recurring tells whether s sends more than once.
func (s Schedule) Recurring() bool { return s.Kind == Weekly || s.Kind == Monthly || s.Kind == Yearly }

// DefaultRate is the rate of a broadcast that sets none: decisions per
// second.
const DefaultRate = 200

// MaxRate bounds a broadcast's rate.
const MaxRate = 100_000

// Broadcast is a campaign sent to an audience on a schedule.
type Broadcast struct {
	ID string `json:"id"`
	// Campaign names the campaign (campaign.Config) whose guards and action
	// each member gets, or journey:<name>, a journey (pkg/journey) whose
	// entry takes segflow.broadcast, which each member enters.
	Campaign string `json:"campaign"`
	// Audience is an audience expression (pkg/audience), in canonical form
	// once made.
	Audience string   `json:"audience"`
	Schedule Schedule `json:"schedule"`
	// Rate is how many members are decided per second at most; 0 means
	// DefaultRate.
	Rate      int       `json:"rate,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy is the holder of the API token that made it.
	CreatedBy string `json:"created_by,omitempty"`
}

// rate is b's rate, with the default.
func (b *Broadcast) rate() int {
	if b.Rate <= 0 {
		return DefaultRate
	}
	return b.Rate
}

// Invalid is a broadcast Check refuses: a message per field, by the field's
// JSON path ("schedule.hour").
type Invalid map[string]string

func (e Invalid) Error() string {
	fields := make([]string, 0, len(e))
	for f := range e {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var b strings.Builder
	b.WriteString("invalid broadcast: ")
	for i, f := range fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f + ": " + e[f])
	}
	return b.String()
}

// maxIDLen bounds a broadcast id given by its maker.
const maxIDLen = 128

// Check checks b as made at now, puts its audience in canonical form, and
// returns an Invalid naming every field at fault, or nil. A syntax error in
// the audience is reported with its position. Whether the campaign exists and
// the audience's names mean something is for the caller, which knows the
// campaigns and the population.
func Check(b *Broadcast, now time.Time) error {
	bad := Invalid{}
	if len(b.ID) > maxIDLen {
		bad["id"] = fmt.Sprintf("longer than %d bytes", maxIDLen)
	}
	if strings.TrimSpace(b.Campaign) == "" {
		bad["campaign"] = "missing; name a campaign of the campaigns file"
	}
	if strings.TrimSpace(b.Audience) == "" {
		bad["audience"] = `missing; an audience expression such as "champions AND NOT tag:vip"`
	} else if expr, err := audience.Parse(b.Audience); err != nil {
		bad["audience"] = err.Error()
	} else {
		b.Audience = expr.String()
	}
	if b.Rate < 0 || b.Rate > MaxRate {
		bad["rate"] = fmt.Sprintf("%d is not a rate from 1 to %d per second (0 or none: %d)", b.Rate, MaxRate, DefaultRate)
	}
	b.Schedule.Until = b.Schedule.Until.UTC().Truncate(time.Millisecond)
	for f, msg := range b.Schedule.check(now) {
		bad["schedule."+f] = msg
	}
	if _, ok := bad["schedule.until"]; !ok && !b.Schedule.Until.IsZero() && len(bad) == 0 {
		made := *b
		made.CreatedAt = now
		if _, opens := made.first(); opens.After(b.Schedule.Until) {
			bad["schedule.until"] = fmt.Sprintf("%s is before the first occurrence, which opens at %s", b.Schedule.Until.Format(time.RFC3339), opens.UTC().Format(time.RFC3339))
		}
	}
	if b.Schedule.Kind == "" {
		bad["schedule.kind"] = "missing; one of " + kindList()
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

func kindList() string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// weekdays by lower-case English name.
var weekdays = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		weekdays[strings.ToLower(d.String())] = d
	}
}

// check returns a message per field of s at fault, as made at now.
func (s Schedule) check(now time.Time) map[string]string {
	bad := map[string]string{}
	only := func(field string, set bool, kinds string) {
		if set {
			bad[field] = "only a " + kinds + " schedule has one"
		}
	}
	switch s.Kind {
	case "":
		return bad
	case Now:
	case At:
		if s.At.IsZero() {
			bad["at"] = "missing; the time to send, RFC 3339"
		} else if s.At.Before(now.Add(-time.Minute)) {
			bad["at"] = fmt.Sprintf("%s has passed; use kind now to send at once", s.At.Format(time.RFC3339))
		}
	case Weekly:
		if _, ok := weekdays[strings.ToLower(s.Weekday)]; !ok {
			bad["weekday"] = fmt.Sprintf("%q is not a weekday (monday … sunday)", s.Weekday)
		}
	case Monthly:
		if s.Day < 1 || s.Day > 31 {
			bad["day"] = fmt.Sprintf("%d is not a day of the month 1–31", s.Day)
		}
	case Yearly:
		if _, err := time.Parse("01-02", s.Date); err != nil && s.Date != "02-29" {
			bad["date"] = fmt.Sprintf("%q is not a date MM-DD", s.Date)
		}
	default:
		bad["kind"] = fmt.Sprintf("%q is not one of %s", s.Kind, kindList())
		return bad
	}
	only("at", s.Kind != At && !s.At.IsZero(), "at")
	only("weekday", s.Kind != Weekly && s.Weekday != "", "weekly")
	only("day", s.Kind != Monthly && s.Day != 0, "monthly")
	only("date", s.Kind != Yearly && s.Date != "", "yearly")
	only("until", !s.Recurring() && !s.Until.IsZero(), "weekly, monthly or yearly")
	if s.Recurring() {
		if s.Hour < 0 || s.Hour > 23 {
			bad["hour"] = fmt.Sprintf("%d is not an hour 0–23", s.Hour)
		}
	} else {
		only("hour", s.Hour != 0, "weekly, monthly or yearly")
	}
	return bad
}
