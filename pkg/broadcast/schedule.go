package broadcast

import (
	"strings"
	"time"
)

// once is the key of the one occurrence of a Now or At broadcast.
const once = "once"

// The first and last time zones to reach an hour of a date: a recurring
// occurrence opens when the first does, and the last has it 26 hours later.
var (
	firstZone = time.FixedZone("UTC+14", 14*3600)
	lastZone  = time.FixedZone("UTC-12", -12*3600)
)

// dateLayout is how a recurring occurrence is keyed: its local date.
const dateLayout = time.DateOnly

// first returns the first occurrence of b: its key and when it opens. A
// recurring broadcast's first is the first date on which the hour has not
// yet passed in the last time zone when it was made, so that no customer
// whose hour is still to come that day misses it.
func (b *Broadcast) first() (key string, opens time.Time) {
	s := b.Schedule
	switch s.Kind {
	case Now:
		return once, b.CreatedAt
	case At:
		return once, s.At
	}
	y, m, d := b.CreatedAt.In(lastZone).Date()
	day := time.Date(y, m, d-1, 0, 0, 0, 0, time.UTC)
	for !s.on(day) || !s.due(day, lastZone).After(b.CreatedAt) {
		day = day.AddDate(0, 0, 1)
	}
	return day.Format(dateLayout), s.due(day, firstZone)
}

// next returns the occurrence after the one keyed key, and ok false if there
// is none (a Now or At broadcast, or a recurring one past its Until).
func (b *Broadcast) next(key string) (next string, opens time.Time, ok bool) {
	s := b.Schedule
	if !s.Recurring() {
		return "", time.Time{}, false
	}
	day, err := time.Parse(dateLayout, key)
	if err != nil {
		return "", time.Time{}, false
	}
	day = day.AddDate(0, 0, 1)
	for !s.on(day) {
		day = day.AddDate(0, 0, 1)
	}
	opens = s.due(day, firstZone)
	if !s.Until.IsZero() && opens.After(s.Until) {
		return "", time.Time{}, false
	}
	return day.Format(dateLayout), opens, true
}

// dueAt returns when the occurrence keyed key is due for a customer in loc:
// the hour of its date on their wall clock, or the one time of a Now or At
// broadcast.
func (b *Broadcast) dueAt(key string, opens time.Time, loc *time.Location) time.Time {
	day, err := time.Parse(dateLayout, key)
	if !b.Schedule.Recurring() || err != nil {
		return opens
	}
	return b.Schedule.due(day, loc)
}

// on tells whether the date day (UTC midnight) is one s sends on.
func (s Schedule) on(day time.Time) bool {
	switch s.Kind {
	case Weekly:
		return day.Weekday() == weekdays[strings.ToLower(s.Weekday)]
	case Monthly:
		return day.Day() == min(s.Day, daysIn(day.Year(), day.Month()))
	case Yearly:
		d, err := time.Parse("2006-01-02", "2000-"+s.Date) // a leap year: 02-29 reads
		if err != nil || day.Month() != d.Month() {
			return false
		}
		return day.Day() == min(d.Day(), daysIn(day.Year(), day.Month()))
	}
	return false
}

// due is s's hour on the date day on the wall clock of loc.
func (s Schedule) due(day time.Time, loc *time.Location) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, s.Hour, 0, 0, 0, loc)
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
