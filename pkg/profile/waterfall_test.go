package profile_test

import (
	"context"
	"slices"
	"testing"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/waterfall"
)

func TestAMoveBetweenWaterfallSegmentsIsAChange(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	wf, err := waterfall.Compile(waterfall.Config{Segments: []waterfall.Segment{
		{Name: "hong_kong", When: `traits[?"timezone"].orValue("") == "Asia/Hong_Kong"`},
		{Name: "buyers", When: `orders > 0`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := profile.New(rdb, profile.Config{Prefix: "wf", Rules: rules, Waterfall: wf})
	apply := func(T int, op profile.Op) []profile.Change {
		t.Helper()
		chs, _, err := s.Apply(ctx, day(float64(T)), []profile.Op{op})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, chs); err != nil {
			t.Fatal(err)
		}
		return chs
	}
	identify := func(id, tz string) profile.Op {
		return ev(t, id, event.Identify, "erin", day(2), `{"user_id":"erin","traits":{"timezone":"`+tz+`"}}`)
	}

	chs := apply(1, order(t, "erin", "e1", day(1), "10"))
	if len(chs) != 1 || chs[0].Before.Waterfall != "" || chs[0].After.Waterfall != "buyers" || !slices.Contains(chs[0].Changed, "waterfall") {
		t.Fatalf("first order: changes %+v, want one into waterfall segment buyers", chs)
	}

	// Only the time zone changes: no stage, score, tier or tag moves, but
	// the customer moves up the waterfall.
	chs = apply(2, identify("i1", "Asia/Hong_Kong"))
	if len(chs) != 1 {
		t.Fatalf("identify in Hong Kong: %d changes, want 1", len(chs))
	}
	if ch := chs[0]; ch.Before.Waterfall != "buyers" || ch.After.Waterfall != "hong_kong" || !slices.Equal(ch.Changed, []string{"waterfall"}) {
		t.Errorf("identify in Hong Kong: change %s -> %s, changed %v; want buyers -> hong_kong, changed [waterfall]", ch.Before.Waterfall, ch.After.Waterfall, ch.Changed)
	}
	e, err := chs[0].Event("test")
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != event.ProfileChanged {
		t.Errorf("event type %s, want %s", e.Type(), event.ProfileChanged)
	}

	if chs := apply(3, identify("i1", "Asia/Hong_Kong")); len(chs) != 0 {
		t.Errorf("the same identify again: changes %+v, want none", chs)
	}

	// The segment is kept with the profile: as read, and as summarised for
	// population views.
	ps, err := s.Get(ctx, day(3), []string{"erin"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Waterfall != "hong_kong" {
		t.Errorf("profile's waterfall segment %q, want hong_kong", ps[0].Waterfall)
	}
	sums, err := s.Summaries(ctx, []string{"erin"})
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].Waterfall != "hong_kong" {
		t.Errorf("summary's waterfall segment %q, want hong_kong", sums[0].Waterfall)
	}

	// Moving elsewhere moves them back down.
	chs = apply(4, ev(t, "i2", event.Identify, "erin", day(4), `{"user_id":"erin","traits":{"timezone":"Europe/Paris"}}`))
	if len(chs) != 1 || chs[0].Before.Waterfall != "hong_kong" || chs[0].After.Waterfall != "buyers" {
		t.Errorf("identify in Paris: changes %+v, want one from hong_kong to buyers", chs)
	}
}
