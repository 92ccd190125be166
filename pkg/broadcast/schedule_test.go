package broadcast

import (
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestOccurrencesFallOnTheScheduledDatesAndOpenWhenTheFirstTimeZoneReachesTheHour(t *testing.T) {
	for _, tc := range []struct {
		name      string
		s         Schedule
		created   string
		first     string // the first occurrence's date
		opens     string // when it opens: the hour at UTC+14
		following []string
	}{
		{"weekly on monday, made on a monday before the last zone's hour", Schedule{Kind: Weekly, Weekday: "monday", Hour: 10}, "2026-12-07T09:00:00Z",
			"2026-12-07", "2026-12-06T20:00:00Z", []string{"2026-12-14", "2026-12-21"}},
		{"weekly on monday, made after the last zone's monday hour", Schedule{Kind: Weekly, Weekday: "Monday", Hour: 10}, "2026-12-08T23:00:00Z",
			"2026-12-14", "2026-12-13T20:00:00Z", []string{"2026-12-21"}},
		{"monthly on the 31st is the last day of shorter months", Schedule{Kind: Monthly, Day: 31, Hour: 9}, "2027-01-31T22:00:00Z",
			"2027-02-28", "2027-02-27T19:00:00Z", []string{"2027-03-31", "2027-04-30"}},
		{"yearly on 29 February is 28 February in common years", Schedule{Kind: Yearly, Date: "02-29", Hour: 0}, "2026-06-01T00:00:00Z",
			"2027-02-28", "2027-02-27T10:00:00Z", []string{"2028-02-29", "2029-02-28"}},
		{"yearly anniversary", Schedule{Kind: Yearly, Date: "12-25", Hour: 8}, "2026-12-01T00:00:00Z",
			"2026-12-25", "2026-12-24T18:00:00Z", []string{"2027-12-25"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Broadcast{Schedule: tc.s, CreatedAt: utc(tc.created)}
			key, opens := b.first()
			if key != tc.first || !opens.Equal(utc(tc.opens)) {
				t.Fatalf("first = %s opening %s, want %s opening %s", key, opens.UTC().Format(time.RFC3339), tc.first, tc.opens)
			}
			for _, want := range tc.following {
				next, _, ok := b.next(key)
				if !ok || next != want {
					t.Fatalf("after %s: %s (%v), want %s", key, next, ok, want)
				}
				key = next
			}
		})
	}
}

func TestARecurringOccurrenceIsDueAtTheHourOnEachCustomersWallClock(t *testing.T) {
	b := Broadcast{Schedule: Schedule{Kind: Weekly, Weekday: "monday", Hour: 10}, CreatedAt: utc("2026-12-01T00:00:00Z")}
	key, opens := b.first()
	for _, tc := range []struct {
		zone string
		want string
	}{
		{"Asia/Hong_Kong", "2026-12-07T02:00:00Z"},
		{"Europe/London", "2026-12-07T10:00:00Z"},
		{"America/New_York", "2026-12-07T15:00:00Z"},
		{"Pacific/Kiritimati", "2026-12-06T20:00:00Z"}, // UTC+14: the occurrence opens with it
	} {
		if got := b.dueAt(key, opens, zone(t, tc.zone)); !got.Equal(utc(tc.want)) {
			t.Errorf("%s: due %s, want %s", tc.zone, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
	once := Broadcast{Schedule: Schedule{Kind: At, At: utc("2026-12-24T12:00:00Z")}}
	key, opens = once.first()
	if got := once.dueAt(key, opens, zone(t, "Asia/Hong_Kong")); key != "once" || !got.Equal(utc("2026-12-24T12:00:00Z")) {
		t.Errorf("an at broadcast is due for everyone at its time: %s %s", key, got)
	}
	if _, _, ok := once.next(key); ok {
		t.Error("an at broadcast has a second occurrence")
	}
}

func TestARecurringBroadcastHasNoOccurrenceOpeningAfterItsUntil(t *testing.T) {
	for _, tc := range []struct {
		name  string
		until string
		want  []string // every occurrence
	}{
		{"until the moment the second opens", "2026-12-13T20:00:00Z", []string{"2026-12-07", "2026-12-14"}},
		{"until a moment before the second opens", "2026-12-13T19:59:59Z", []string{"2026-12-07"}},
		{"until weeks later", "2026-12-29T00:00:00Z", []string{"2026-12-07", "2026-12-14", "2026-12-21", "2026-12-28"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Weekly, Weekday: "monday", Hour: 10, Until: utc(tc.until)}}
			created := utc("2026-12-07T09:00:00Z")
			if err := Check(&b, created); err != nil {
				t.Fatal(err)
			}
			b.CreatedAt = created
			key, _ := b.first()
			got := []string{key}
			for {
				next, _, ok := b.next(key)
				if !ok {
					break
				}
				if len(got) > 10 {
					t.Fatalf("occurrences %v… and more, want %v", got, tc.want)
				}
				got, key = append(got, next), next
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("occurrences %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckNamesEveryFieldAtFault(t *testing.T) {
	now := utc("2026-12-01T00:00:00Z")
	for _, tc := range []struct {
		name string
		b    Broadcast
		want []string
	}{
		{"nothing given", Broadcast{}, []string{"campaign", "audience", "schedule.kind"}},
		{"an audience that does not parse", Broadcast{Campaign: "c", Audience: "vip AND (", Schedule: Schedule{Kind: Now}}, []string{"audience"}},
		{"an unknown kind", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: "daily"}}, []string{"schedule.kind"}},
		{"at without a time", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: At}}, []string{"schedule.at"}},
		{"at in the past", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: At, At: now.Add(-time.Hour)}}, []string{"schedule.at"}},
		{"weekly on no weekday, at hour 24", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Weekly, Weekday: "someday", Hour: 24}}, []string{"schedule.weekday", "schedule.hour"}},
		{"monthly on day 32 with a date", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Monthly, Day: 32, Date: "01-01"}}, []string{"schedule.day", "schedule.date"}},
		{"yearly on 13-01", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Yearly, Date: "13-01"}}, []string{"schedule.date"}},
		{"now with an hour", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Now, Hour: 3}}, []string{"schedule.hour"}},
		{"a negative rate", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Now}, Rate: -1}, []string{"rate"}},
		{"now with an until", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Now, Until: now.Add(time.Hour)}}, []string{"schedule.until"}},
		{"weekly until before its first occurrence opens", Broadcast{Campaign: "c", Audience: "vip", Schedule: Schedule{Kind: Weekly, Weekday: "friday", Hour: 9, Until: utc("2026-12-03T00:00:00Z")}}, []string{"schedule.until"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(&tc.b, now)
			bad, ok := err.(Invalid)
			if !ok {
				t.Fatalf("Check = %v, want Invalid", err)
			}
			if len(bad) != len(tc.want) {
				t.Errorf("fields %v, want %v", bad, tc.want)
			}
			for _, f := range tc.want {
				if bad[f] == "" {
					t.Errorf("no message for %s: %v", f, bad)
				}
			}
		})
	}
	ok := Broadcast{Campaign: "c", Audience: "vip  and  NOT (gold)", Schedule: Schedule{Kind: Yearly, Date: "02-29", Hour: 9}}
	if err := Check(&ok, now); err != nil {
		t.Fatalf("a valid broadcast: %v", err)
	}
	if ok.Audience != "vip AND NOT gold" {
		t.Errorf("audience kept as %q, want the canonical form", ok.Audience)
	}
}
