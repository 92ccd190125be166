package campaign

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// Assign places customer in campaign's audience. The SHA-256 of campaign,
// a zero byte and customer gives a number u, uniform in [0, 1); customers with
// u < holdout are held out (variant ""), and the rest are split among variants
// in proportion to their weights, in order. None means DefaultVariant.
//
// The answer depends only on the arguments, so it is the same in every
// process and after every restart; and since u depends on the campaign, being
// held out of one campaign says nothing about another.
func Assign(campaign, customer string, variants []Variant, holdout float64) (variant string, heldOut bool) {
	sum := sha256.Sum256([]byte(campaign + "\x00" + customer))
	// The top 53 bits, exactly representable in a float64.
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	if u < holdout {
		return "", true
	}
	if len(variants) == 0 {
		return DefaultVariant, false
	}
	u = (u - max(holdout, 0)) / (1 - max(holdout, 0)) // uniform in [0, 1) again
	var total float64
	for _, v := range variants {
		total += max(v.Weight, 0)
	}
	x := u * total
	for _, v := range variants {
		if x < v.Weight {
			return v.Name, false
		}
		x -= max(v.Weight, 0)
	}
	return variants[len(variants)-1].Name, false // rounding
}

// CapAllows reports whether one more trigger may be sent at now, given the
// times of those already sent: for every cap, fewer than Max were sent within
// (now−Per, now]. Sends after now (a replay behind live) do not count.
func CapAllows(sent []time.Time, caps []Cap, now time.Time) bool {
	for _, c := range caps {
		if within(sent, time.Duration(c.Per), now) >= c.Max {
			return false
		}
	}
	return true
}

// within counts the times in (now−d, now].
func within(times []time.Time, d time.Duration, now time.Time) int {
	from, n := now.Add(-d), 0
	for _, t := range times {
		if t.After(from) && !t.After(now) {
			n++
		}
	}
	return n
}

// ViewedEnough reports whether views, the times the customer viewed one
// product, hold at least c.Views within (now−c.Window, now]. It is true for
// a campaign that counts no views.
func (c *Campaign) ViewedEnough(views []time.Time, now time.Time) bool {
	return c.Views == 0 || within(views, time.Duration(c.Window), now) >= c.Views
}

// Next returns when a trigger due at t may be sent: t if t is outside the
// quiet hours on the wall clock of loc, else the end of the quiet period,
// which for hours spanning midnight may be the next day. The end is that wall
// clock time on that day, however long the day is (daylight saving time). A
// nil Quiet is never quiet.
func (q *Quiet) Next(t time.Time, loc *time.Location) time.Time {
	if q == nil {
		return t
	}
	start, err1 := parseClock(q.Start)
	end, err2 := parseClock(q.End)
	if err1 != nil || err2 != nil {
		return t // Parse refuses these
	}
	local := t.In(loc)
	m := local.Hour()*60 + local.Minute()
	y, mon, d := local.Date()
	switch {
	case start < end && start <= m && m < end, start > end && m < end:
		// The period ends today.
	case start > end && m >= start:
		d++
	default:
		return t
	}
	return time.Date(y, mon, d, end/60, end%60, 0, 0, loc)
}

// NextBirthday returns the first start of the customer's birthday in loc at
// or after now: midnight on the wall clock of loc, this year or next.
// birthday is "YYYY-MM-DD" or, without the year, "--MM-DD". A birthday on 29
// February is kept on 28 February in common years, so that it stays in its
// month (a birthday-month campaign) and comes once a year. Birthdays are
// personal data, so the error does not repeat the value.
func NextBirthday(birthday string, loc *time.Location, now time.Time) (time.Time, error) {
	date := birthday
	if md, ok := strings.CutPrefix(birthday, "--"); ok {
		date = "2000-" + md // a leap year, so that --02-29 reads
	}
	b, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return time.Time{}, errors.New("birthday: not a date YYYY-MM-DD or --MM-DD")
	}
	on := func(year int) time.Time {
		day := b.Day()
		if b.Month() == time.February && day == 29 && !leap(year) {
			day = 28
		}
		return time.Date(year, b.Month(), day, 0, 0, 0, 0, loc)
	}
	t := on(now.In(loc).Year())
	if t.Before(now) {
		t = on(now.In(loc).Year() + 1)
	}
	return t, nil
}

func leap(year int) bool {
	return year%4 == 0 && (year%100 != 0 || year%400 == 0)
}

// HabitMin is how many purchases a weekday and hour need to be a habit.
const HabitMin = 3

// Habit returns the weekday and hour (0–23, in loc) at which the customer
// usually buys: the (weekday, hour) of most of their purchases, and of those
// tied, the one with the most recent purchase. ok is false unless that pair
// holds at least HabitMin purchases: three purchases at three different
// times are no habit.
func Habit(purchases []time.Time, loc *time.Location) (weekday time.Weekday, hour int, ok bool) {
	type slot struct {
		day  time.Weekday
		hour int
	}
	count := map[slot]int{}
	latest := map[slot]time.Time{}
	for _, p := range purchases {
		l := p.In(loc)
		s := slot{l.Weekday(), l.Hour()}
		count[s]++
		if count[s] == 1 || p.After(latest[s]) {
			latest[s] = p
		}
	}
	var best slot
	for s, n := range count {
		// Different slots never share a latest purchase, so the order in
		// which the map is visited does not matter.
		if n > count[best] || n == count[best] && latest[s].After(latest[best]) {
			best = s
		}
	}
	if count[best] < HabitMin {
		return 0, 0, false
	}
	return best.day, best.hour, true
}

// NextHabit returns the first instant strictly after now that is lead before
// weekday at hour:00 on the wall clock of loc.
func NextHabit(weekday time.Weekday, hour int, lead time.Duration, loc *time.Location, now time.Time) time.Time {
	local := now.In(loc)
	y, m, d := local.Date()
	d += (int(weekday) - int(local.Weekday()) + 7) % 7
	for {
		if t := time.Date(y, m, d, hour, 0, 0, 0, loc).Add(-lead); t.After(now) {
			return t
		}
		d += 7
	}
}
