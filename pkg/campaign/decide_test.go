package campaign

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestAssign(t *testing.T) {
	// u is the first 53 bits of SHA-256("cart_abandon_coupon\x00" + customer),
	// read off `printf 'cart_abandon_coupon\0cust-1' | sha256sum`:
	// cust-1 2c7d… ≈ 0.174, cust-2 f900… ≈ 0.973, cust-4 3f35… ≈ 0.247,
	// cust-5 cac2… ≈ 0.792, cust-6 3893… ≈ 0.221.
	ab := []Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}}
	tests := []struct {
		name        string
		customer    string
		variants    []Variant
		holdout     float64
		wantVariant string
		wantHeldOut bool
	}{
		// Holdout 0.2: u < 0.2 is held out; a is [0.2, 0.4), b [0.4, 1).
		{"u 0.174 is held out of a 0.2 holdout", "cust-1", ab, 0.2, "", true},
		{"u 0.221 is in the first quarter of the rest, variant a", "cust-6", ab, 0.2, "a", false},
		{"u 0.247 is in the first quarter of the rest, variant a", "cust-4", ab, 0.2, "a", false},
		{"u 0.792 is in the last three quarters, variant b", "cust-5", ab, 0.2, "b", false},
		{"u 0.973 is in the last three quarters, variant b", "cust-2", ab, 0.2, "b", false},
		// Holdout 0.1: a is [0.1, 0.325), b [0.325, 1).
		{"u 0.174 is not held out of a 0.1 holdout: variant a", "cust-1", ab, 0.1, "a", false},
		{"without a holdout u 0.174 is variant a", "cust-1", ab, 0, "a", false},
		{"without a holdout u 0.792 is variant b", "cust-5", ab, 0, "b", false},
		{"without variants a customer gets the default one", "cust-5", nil, 0.1, DefaultVariant, false},
		{"without variants a held-out customer gets none", "cust-1", nil, 0.2, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			variant, heldOut := Assign("cart_abandon_coupon", tt.customer, tt.variants, tt.holdout)
			if variant != tt.wantVariant || heldOut != tt.wantHeldOut {
				t.Errorf("Assign(%s) = %q, %t; want %q, %t", tt.customer, variant, heldOut, tt.wantVariant, tt.wantHeldOut)
			}
		})
	}
}

func TestAssignSplitsIdsInProportion(t *testing.T) {
	const n = 100_000
	variants := []Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}, {Name: "c", Weight: 1}}
	count := map[string]int{}
	for i := range n {
		v, heldOut := Assign("birthday_coupon", fmt.Sprintf("cust-%d", i), variants, 0.1)
		if heldOut {
			v = "held out"
		}
		count[v]++
	}
	// 10% held out; the other 90% split 1:2:1.
	want := map[string]float64{"held out": 0.1, "a": 0.225, "b": 0.45, "c": 0.225}
	for v, share := range want {
		if got := float64(count[v]) / n; math.Abs(got-share) > 0.01 {
			t.Errorf("%s: %.4f of ids, want %.3f ± 0.01", v, got, share)
		}
	}
}

func TestAssignAlwaysGivesAnIdTheSameAnswer(t *testing.T) {
	variants := []Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}
	for i := range 1000 {
		id := fmt.Sprintf("cust-%d", i)
		v1, h1 := Assign("habit_coffee", id, variants, 0.1)
		v2, h2 := Assign("habit_coffee", id, variants, 0.1)
		if v1 != v2 || h1 != h2 {
			t.Fatalf("%s: %q, %t, then %q, %t", id, v1, h1, v2, h2)
		}
	}
}

func TestAssignDependsOnTheCampaign(t *testing.T) {
	// Otherwise the same 10% would be held out of every campaign.
	same := 0
	for i := range 10_000 {
		id := fmt.Sprintf("cust-%d", i)
		_, h1 := Assign("wake_up_s1", id, nil, 0.1)
		_, h2 := Assign("wake_up_s2", id, nil, 0.1)
		if h1 && h2 {
			same++
		}
	}
	// Independent: about 1% of ids are held out of both.
	if same < 50 || same > 150 {
		t.Errorf("%d of 10000 ids held out of both campaigns, want about 100", same)
	}
}

func TestCapAllows(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	week := []Cap{{Max: 3, Per: Duration(168 * time.Hour)}}
	tests := []struct {
		name string
		sent []time.Time
		caps []Cap
		want bool
	}{
		{"no caps allow anything", []time.Time{ago(time.Minute), ago(time.Hour), now}, nil, true},
		{"nothing sent allows a send", nil, week, true},
		{"two sends in the week allow a third", []time.Time{ago(time.Hour), ago(100 * time.Hour)}, week, true},
		{"three sends in the week refuse a fourth", []time.Time{ago(time.Hour), ago(50 * time.Hour), ago(167 * time.Hour)}, week, false},
		{"a send exactly a week ago has left the window",
			[]time.Time{ago(time.Hour), ago(50 * time.Hour), ago(168 * time.Hour)}, week, true},
		{"a send a second short of a week ago is still in it",
			[]time.Time{ago(time.Hour), ago(50 * time.Hour), ago(168*time.Hour - time.Second)}, week, false},
		{"a send at now counts", []time.Time{now, ago(time.Hour), ago(2 * time.Hour)}, week, false},
		{"a send after now does not count", []time.Time{now.Add(time.Hour), ago(time.Hour), ago(2 * time.Hour)}, week, true},
		{"every cap must allow: one a day refuses a second though three a week would allow it",
			[]time.Time{ago(time.Hour)}, append([]Cap{{Max: 1, Per: Duration(24 * time.Hour)}}, week...), false},
		{"one a day allows a send a day and a minute after the last",
			[]time.Time{ago(24*time.Hour + time.Minute)}, append([]Cap{{Max: 1, Per: Duration(24 * time.Hour)}}, week...), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CapAllows(tt.sent, tt.caps, now); got != tt.want {
				t.Errorf("CapAllows = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestViewedEnough(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	browse := &Campaign{Kind: KindBrowseAbandon, Views: 3, Window: Duration(24 * time.Hour)}
	tests := []struct {
		name     string
		campaign *Campaign
		views    []time.Time
		want     bool
	}{
		{"three views within a day are enough", browse, []time.Time{ago(time.Hour), ago(2 * time.Hour), ago(23 * time.Hour)}, true},
		{"two views within a day are not", browse, []time.Time{ago(time.Hour), ago(2 * time.Hour)}, false},
		{"a view exactly a day ago is outside the window", browse, []time.Time{ago(time.Hour), ago(2 * time.Hour), ago(24 * time.Hour)}, false},
		{"a campaign that counts no views needs none", &Campaign{Kind: KindCartAbandon}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.campaign.ViewedEnough(tt.views, now); got != tt.want {
				t.Errorf("ViewedEnough = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestQuietNext(t *testing.T) {
	taipei := mustLoad(t, "Asia/Taipei") // UTC+8, no daylight saving time
	ny := mustLoad(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	utc := func(s string) time.Time { return at(time.UTC, s) }
	night := &Quiet{Start: "21:00", End: "09:00"}
	lunch := &Quiet{Start: "12:00", End: "14:00"}
	tests := []struct {
		name  string
		quiet *Quiet
		loc   *time.Location
		t     time.Time
		want  time.Time
	}{
		{"noon is not quiet", night, taipei, at(taipei, "2026-03-09 12:00:00"), at(taipei, "2026-03-09 12:00:00")},
		{"a minute before the start is not quiet", night, taipei, at(taipei, "2026-03-09 20:59:59"), at(taipei, "2026-03-09 20:59:59")},
		{"the start is quiet until 09:00 the next day", night, taipei, at(taipei, "2026-03-09 21:00:00"), at(taipei, "2026-03-10 09:00:00")},
		{"before midnight waits for the next morning", night, taipei, at(taipei, "2026-03-09 23:30:00"), at(taipei, "2026-03-10 09:00:00")},
		{"after midnight waits for the same morning", night, taipei, at(taipei, "2026-03-10 03:00:00"), at(taipei, "2026-03-10 09:00:00")},
		{"a second before the end waits a second", night, taipei, at(taipei, "2026-03-10 08:59:59"), at(taipei, "2026-03-10 09:00:00")},
		{"the end is not quiet", night, taipei, at(taipei, "2026-03-10 09:00:00"), at(taipei, "2026-03-10 09:00:00")},
		{"quiet hours are on the customer's clock: 13:00 UTC is 21:00 in Taipei",
			night, taipei, utc("2026-03-09 13:00:00"), utc("2026-03-10 01:00:00")},
		{"the last day of a month ends its quiet hours on the first of the next",
			night, taipei, at(taipei, "2026-02-28 22:00:00"), at(taipei, "2026-03-01 09:00:00")},

		{"in quiet hours within a day, waits for their end", lunch, taipei, at(taipei, "2026-03-09 13:00:00"), at(taipei, "2026-03-09 14:00:00")},
		{"before quiet hours within a day is not quiet", lunch, taipei, at(taipei, "2026-03-09 11:59:00"), at(taipei, "2026-03-09 11:59:00")},
		{"after quiet hours within a day is not quiet", lunch, taipei, at(taipei, "2026-03-09 23:00:00"), at(taipei, "2026-03-09 23:00:00")},
		{"no quiet hours are never quiet", nil, taipei, at(taipei, "2026-03-09 23:00:00"), at(taipei, "2026-03-09 23:00:00")},

		// New York springs forward on 8 March 2026 (02:00 EST → 03:00 EDT) and
		// falls back on 1 November 2026 (02:00 EDT → 01:00 EST).
		{"the night the clocks spring forward ends at 09:00 EDT, 13:00 UTC",
			night, ny, at(ny, "2026-03-07 23:00:00"), utc("2026-03-08 13:00:00")},
		{"08:30 EDT on the spring-forward morning is quiet",
			night, ny, utc("2026-03-08 12:30:00"), utc("2026-03-08 13:00:00")},
		{"09:30 EDT on the spring-forward morning is not quiet, though it would be 08:30 in EST",
			night, ny, utc("2026-03-08 13:30:00"), utc("2026-03-08 13:30:00")},
		{"the night the clocks fall back ends at 09:00 EST, 14:00 UTC",
			night, ny, at(ny, "2026-10-31 22:00:00"), utc("2026-11-01 14:00:00")},
		{"the second 01:30 of the fall-back night is quiet until 09:00 EST",
			night, ny, utc("2026-11-01 06:30:00"), utc("2026-11-01 14:00:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.quiet.Next(tt.t, tt.loc); !got.Equal(tt.want) {
				t.Errorf("Next(%s) = %s, want %s", tt.t, got, tt.want.In(tt.loc))
			}
		})
	}
}

func TestNextBirthday(t *testing.T) {
	taipei := mustLoad(t, "Asia/Taipei")
	ny := mustLoad(t, "America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	tests := []struct {
		name     string
		birthday string
		loc      *time.Location
		now      time.Time
		want     time.Time
	}{
		{"a birthday later this year is this year's", "--05-17", taipei, at(taipei, 2026, 1, 1, 0, 0), at(taipei, 2026, 5, 17, 0, 0)},
		{"a full date's year is the birth year, not this one", "1990-05-17", taipei, at(taipei, 2026, 5, 16, 23, 59), at(taipei, 2026, 5, 17, 0, 0)},
		{"the very start of the birthday is at or after now", "--05-17", taipei, at(taipei, 2026, 5, 17, 0, 0), at(taipei, 2026, 5, 17, 0, 0)},
		{"during the birthday the next one is next year's", "--05-17", taipei, at(taipei, 2026, 5, 17, 10, 0), at(taipei, 2027, 5, 17, 0, 0)},
		{"after the birthday the next one is next year's", "--05-17", taipei, at(taipei, 2026, 8, 1, 0, 0), at(taipei, 2027, 5, 17, 0, 0)},
		{"a birthday on New Year's Day seen on New Year's Eve is tomorrow", "--01-01", taipei, at(taipei, 2026, 12, 31, 12, 0), at(taipei, 2027, 1, 1, 0, 0)},
		{"29 February is 28 February in a common year", "--02-29", taipei, at(taipei, 2026, 1, 1, 0, 0), at(taipei, 2026, 2, 28, 0, 0)},
		{"29 February of a birth year is 28 February in a common year", "2000-02-29", taipei, at(taipei, 2026, 1, 1, 0, 0), at(taipei, 2026, 2, 28, 0, 0)},
		{"29 February is itself in a leap year", "--02-29", taipei, at(taipei, 2027, 12, 1, 0, 0), at(taipei, 2028, 2, 29, 0, 0)},
		{"the day starts in the customer's zone: Taipei's 17 May starts at 16:00 UTC on the 16th",
			"--05-17", taipei, time.Date(2026, 5, 16, 12, 0, 0, 0, time.UTC), time.Date(2026, 5, 16, 16, 0, 0, 0, time.UTC)},
		{"the day starts in the customer's zone: New York's 17 May starts at 04:00 UTC",
			"--05-17", ny, time.Date(2026, 5, 17, 2, 0, 0, 0, time.UTC), time.Date(2026, 5, 17, 4, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextBirthday(tt.birthday, tt.loc, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("NextBirthday(%s) at %s = %s, want %s", tt.birthday, tt.now, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "05-17", "--5-17", "--13-01", "--02-30", "1990-02-29", "1990/05/17", "1990-05-17T00:00:00Z", "--05-17x"} {
		t.Run(fmt.Sprintf("%q is not a birthday", bad), func(t *testing.T) {
			_, err := NextBirthday(bad, taipei, at(taipei, 2026, 1, 1, 0, 0))
			if err == nil {
				t.Fatal("no error")
			}
			if bad != "" && strings.Contains(err.Error(), bad) {
				t.Errorf("error %q repeats the birthday, which is personal data", err)
			}
		})
	}
}

func TestHabit(t *testing.T) {
	taipei := mustLoad(t, "Asia/Taipei")
	ny := mustLoad(t, "America/New_York")
	// Mondays 2, 9, 16 and 23 February 2026 at 08:15 in Taipei (00:15 UTC,
	// which is 19:15 EST the Sunday before in New York).
	mon := func(d int) time.Time { return time.Date(2026, 2, d, 0, 15, 0, 0, time.UTC) }
	// Saturdays 7, 14 and 21 February 2026 at 10:40 in Taipei.
	sat := func(d int) time.Time { return time.Date(2026, 2, d, 2, 40, 0, 0, time.UTC) }
	tests := []struct {
		name      string
		purchases []time.Time
		loc       *time.Location
		wantDay   time.Weekday
		wantHour  int
		wantOK    bool
	}{
		{"three Monday 8 o'clock purchases are a Monday 8 o'clock habit", []time.Time{mon(2), mon(9), mon(16)}, taipei, time.Monday, 8, true},
		{"the same purchases are a Sunday 19 o'clock habit in New York", []time.Time{mon(2), mon(9), mon(16)}, ny, time.Sunday, 19, true},
		{"two purchases are no habit", []time.Time{mon(2), mon(9)}, taipei, 0, 0, false},
		{"no purchases are no habit", nil, taipei, 0, 0, false},
		{"three purchases at three different times are no habit", []time.Time{mon(2), sat(7), mon(9).Add(5 * time.Hour)}, taipei, 0, 0, false},
		{"minutes within the hour do not matter",
			[]time.Time{mon(2).Add(-15 * time.Minute), mon(9).Add(20 * time.Minute), mon(16).Add(44 * time.Minute)}, taipei, time.Monday, 8, true},
		{"the most frequent time wins over a more recent one",
			[]time.Time{mon(2), mon(9), mon(16), mon(23), sat(7), sat(14), sat(21).AddDate(0, 1, 0)}, taipei, time.Monday, 8, true},
		{"of two as frequent, the one bought most recently wins",
			[]time.Time{mon(2), mon(9), mon(16), sat(7), sat(14), sat(21)}, taipei, time.Saturday, 10, true},
		{"of two as frequent, the one bought most recently wins in any order",
			[]time.Time{sat(21), mon(16), sat(7), mon(2), sat(14), mon(9)}, taipei, time.Saturday, 10, true},
		{"of two as frequent, a later Monday makes Monday win",
			[]time.Time{mon(9), mon(16), mon(23), sat(7), sat(14), sat(21)}, taipei, time.Monday, 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			day, hour, ok := Habit(tt.purchases, tt.loc)
			if day != tt.wantDay || hour != tt.wantHour || ok != tt.wantOK {
				t.Errorf("Habit = %s %d %t, want %s %d %t", day, hour, ok, tt.wantDay, tt.wantHour, tt.wantOK)
			}
		})
	}
}

func TestNextHabit(t *testing.T) {
	taipei := mustLoad(t, "Asia/Taipei")
	ny := mustLoad(t, "America/New_York")
	// 8 March 2026 is a Sunday, 9 March a Monday.
	tp := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, taipei) }
	tests := []struct {
		name    string
		weekday time.Weekday
		hour    int
		lead    time.Duration
		loc     *time.Location
		now     time.Time
		want    time.Time
	}{
		{"on Sunday, Monday 8:00 less 2 hours is Monday 6:00", time.Monday, 8, 2 * time.Hour, taipei, tp(8, 12, 0), tp(9, 6, 0)},
		{"a minute before it, it is a minute away", time.Monday, 8, 2 * time.Hour, taipei, tp(9, 5, 59), tp(9, 6, 0)},
		{"at it, the next is a week later", time.Monday, 8, 2 * time.Hour, taipei, tp(9, 6, 0), tp(16, 6, 0)},
		{"between it and the usual hour, the next is a week later", time.Monday, 8, 2 * time.Hour, taipei, tp(9, 7, 0), tp(16, 6, 0)},
		{"on Tuesday, the next is the coming Monday", time.Monday, 8, 2 * time.Hour, taipei, tp(10, 9, 0), tp(16, 6, 0)},
		{"without a lead it is the usual hour", time.Monday, 8, 0, taipei, tp(8, 12, 0), tp(9, 8, 0)},
		{"a lead across midnight falls on the day before", time.Monday, 1, 2 * time.Hour, taipei, tp(7, 12, 0), tp(8, 23, 0)},
		{"late on that day before, the next is a week later", time.Monday, 1, 2 * time.Hour, taipei, tp(8, 23, 30), tp(15, 23, 0)},
		{"the hour is on the customer's clock: Monday 7:00 in Taipei is Sunday 23:00 UTC",
			time.Monday, 7, 0, taipei, time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 23, 0, 0, 0, time.UTC)},
		{"across the spring-forward night, Monday 9:00 EDT less 2 hours is 11:00 UTC",
			time.Monday, 9, 2 * time.Hour, ny, time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextHabit(tt.weekday, tt.hour, tt.lead, tt.loc, tt.now); !got.Equal(tt.want) {
				t.Errorf("NextHabit at %s = %s, want %s", tt.now, got, tt.want)
			}
		})
	}
}
