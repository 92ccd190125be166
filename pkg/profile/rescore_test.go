package profile_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/rfm"
	"github.com/segflow/segflow/pkg/testenv"
)

// published follows the snapshots a store publishes, as a consumer of
// profile.changed sees them: each customer's last one.
type published map[string]profile.Snapshot

// judged is what a change is published for: stage, segment, tier, tags and
// waterfall segment (a change's scores are as of the change).
func judged(s profile.Snapshot) string {
	return fmt.Sprintf("%s|%s|%s|%v|%s", s.Stage, s.Segment, s.Tier, s.Tags, s.Waterfall)
}

// commit records changes as published, then commits them to s.
func (p published) commit(ctx context.Context, t *testing.T, s *profile.Store, changes []profile.Change) {
	t.Helper()
	for _, ch := range changes {
		p[ch.Customer] = ch.After
	}
	if err := s.Commit(ctx, changes); err != nil {
		t.Fatal(err)
	}
}

// The CDNOW sample applied in event time in batches of two sizes publishes
// snapshots that differ (each batch is scored against the population as the
// batches left it), and a rescore at T makes every customer's published
// snapshot the same in both, and the same as scoring the whole population at
// T from the raw rows.
func TestARescorePublishesTheSameSnapshotsWhateverTheBatches(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	rows, err := demo.Orders()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(rows, func(a, b demo.Order) int { return a.Time.Compare(b.Time) })
	ops := make([]profile.Op, len(rows))
	for i, o := range rows {
		ops[i] = order(t, o.Customer, o.ID, o.Time, o.Total)
	}
	T := demo.End.Add(30 * 24 * time.Hour)

	run := func(prefix string, size int) (*profile.Store, published) {
		s := newStore(t, rdb, prefix)
		pub := published{}
		for i := 0; i < len(ops); i += size {
			batch := ops[i:min(i+size, len(ops))]
			changes, _, err := s.Apply(ctx, batch[len(batch)-1].Time, batch)
			if err != nil {
				t.Fatal(err)
			}
			pub.commit(ctx, t, s, changes)
		}
		return s, pub
	}
	small, smallPub := run("small", 7)
	large, largePub := run("large", 1000)
	differ := 0
	for c, snap := range smallPub {
		if judged(snap) != judged(largePub[c]) {
			differ++
		}
	}
	t.Logf("before the rescore, %d of %d customers' published snapshots differ between the two batchings", differ, len(smallPub))
	if differ == 0 {
		t.Fatal("the two batchings published the same snapshots: the test shows nothing")
	}

	rescore := func(s *profile.Store, pub published) {
		err := s.Rescore(ctx, T, profile.Cause{Due: T}, func(changes []profile.Change, _ []string) error {
			pub.commit(ctx, t, s, changes)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rescore(small, smallPub)
	rescore(large, largePub)

	// The reference: every customer scored at T from the raw rows.
	type hist struct {
		orders []rfm.Order
		last   time.Time
	}
	hs := map[string]*hist{}
	var customers []string
	for _, o := range rows {
		h := hs[o.Customer]
		if h == nil {
			h = &hist{}
			hs[o.Customer] = h
			customers = append(customers, o.Customer)
		}
		amount, err := money.ParseDecimal(o.Total)
		if err != nil {
			t.Fatal(err)
		}
		h.orders = append(h.orders, rfm.Order{Time: o.Time, Amount: int64(amount)})
		if o.Time.After(h.last) {
			h.last = o.Time
		}
	}
	vs := make([]rfm.Values, len(customers))
	for i, c := range customers {
		vs[i] = rfm.Of(hs[c].orders, nil, hs[c].last, T, rfm.DefaultWindow)
	}
	want, _ := rfm.Compute(vs)
	now, err := small.Evaluate(ctx, T, customers)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range customers {
		a, b := smallPub[c], largePub[c]
		if judged(a) != judged(b) {
			t.Errorf("%s: published %s after batches of 7, %s after batches of 1000", c, judged(a), judged(b))
		}
		if judged(a) != judged(now[i].Snapshot) {
			t.Errorf("%s: published %s, evaluated at T %s", c, judged(a), judged(now[i].Snapshot))
		}
		if a.Segment != want[i].Segment {
			t.Errorf("%s: published segment %q, the whole population at T gives %q", c, a.Segment, want[i].Segment)
		}
	}
}

// A rescore reports the customers whose population entry moved (an order
// left the window while no timer applied it), for their summaries to reach
// the other processes' populations, and not those whose entry is as it was.
func TestARescoreReportsTheCustomersWhoseEntryMoved(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "moved")
	ops := []profile.Op{order(t, "ann", "a1", day(30), "10.00"), order(t, "ben", "b1", day(390), "20.00")}
	if _, _, err := s.Apply(ctx, day(391), ops); err != nil {
		t.Fatal(err)
	}
	var entries []string
	changed := map[string]bool{}
	err := s.Rescore(ctx, day(400), profile.Cause{Due: day(400)}, func(changes []profile.Change, moved []string) error {
		if changes == nil {
			entries = append(entries, moved...)
			return nil
		}
		for i, ch := range changes {
			changed[ch.Customer] = true
			if moved[i] != ch.Customer {
				t.Errorf("change of %s reported as %s's", ch.Customer, moved[i])
			}
		}
		return s.Commit(ctx, changes)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(entries, []string{"ann"}) {
		t.Errorf("entries moved: %v; want ann's alone (her order left the window)", entries)
	}
	if !changed["ann"] {
		t.Errorf("ann, whose order left the window, has no change")
	}
}
