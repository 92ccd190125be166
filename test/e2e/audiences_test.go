package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/view"
)

// compareAudiences checks that every audience the read API's population
// view gives at T — each segment, stage, score, tier and tag — holds exactly
// the customers whose own profile (Store.Get at T) says so, and counts them
// alike. The view is loaded from the store as a replica of the read API loads
// it at start.
func compareAudiences(t *testing.T, p *pipeline, T time.Time) {
	t.Helper()
	ctx := context.Background()
	v, err := view.FromStore{Store: p.store}.Of(ctx, p.store.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // name -> customers, from the profiles
	attrs := map[string]view.Attr{}
	add := func(name string, a view.Attr, c string) {
		attrs[name] = a
		want[name] = append(want[name], c)
	}
	everyone := v.Members(T, nil, nil, "", 0)
	ids := make([]string, len(everyone.Members))
	for i, m := range everyone.Members {
		ids[i] = m.ID
	}
	profiles, err := p.store.Get(ctx, T, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range profiles {
		c := pr.Customer
		add("stage:"+string(pr.Stage), view.Attr{Kind: view.KindStage, Value: string(pr.Stage)}, c)
		add("tier:"+pr.Tier, view.Attr{Kind: view.KindTier, Value: pr.Tier}, c)
		for _, tg := range pr.Tags {
			add("tag:"+tg, view.Attr{Kind: view.KindTag, Value: tg}, c)
		}
		if pr.Segment == "" {
			continue
		}
		add("segment:"+pr.Segment, view.Attr{Kind: view.KindSegment, Value: pr.Segment}, c)
		add(fmt.Sprint("r_score:", pr.RScore), view.Attr{Kind: view.KindRScore, Score: pr.RScore}, c)
		add(fmt.Sprint("f_score:", pr.FScore), view.Attr{Kind: view.KindFScore, Score: pr.FScore}, c)
		add(fmt.Sprint("m_score:", pr.MScore), view.Attr{Kind: view.KindMScore, Score: pr.MScore}, c)
	}
	counts := v.Counts(T)
	if tier := want["tier:"]; len(tier) > 0 {
		t.Errorf("%d customers have no tier, e.g. %s", len(tier), tier[0])
	}
	bad := 0
	for name, members := range want {
		got := v.Members(T, audience.Name{Name: name}, attrs, "", 0)
		ids := make([]string, len(got.Members))
		for i, m := range got.Members {
			ids[i] = m.ID
		}
		slices.Sort(members)
		if !slices.Equal(ids, members) {
			if bad++; bad <= 5 {
				t.Errorf("audience %s: %d members in the view, %d by the profiles", name, len(ids), len(members))
			}
		}
		kind, value, _ := strings.Cut(name, ":")
		var n int64
		switch kind {
		case "stage":
			n = counts.Stages[nes.Stage(value)]
		case "tier":
			n = counts.Tiers[value]
		case "tag":
			n = counts.Tags[value]
		case "segment":
			n = counts.Segments[value]
		default:
			continue
		}
		if n != int64(len(members)) {
			t.Errorf("counts of %s: %d, the profiles say %d", name, n, len(members))
		}
	}
	if len(want["segment:"+rfm.ImportantValue]) == 0 || len(want) < 20 {
		t.Errorf("too few audiences to compare: %d", len(want))
	}
	t.Logf("%d audiences of %d customers compared", len(want), len(ids))
}
