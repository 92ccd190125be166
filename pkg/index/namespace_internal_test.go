package index

import (
	"context"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestChangesOfAnotherNamespaceAreNotIndexed hands the indexer of "sf" a
// change of the live updater, a replay's change of "sf", and a replay's
// change of "sf2" (a namespace being built): the last is left out. Once
// "sf2" is live, the indexer indexes there the updater's changes and leaves
// out those of "sf".
func TestChangesOfAnotherNamespaceAreNotIndexed(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	x := &Indexer{Index: New(rdb, "")}
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	msg := func(customer, ns string) kafka.Message {
		e := cloudevents.NewEvent()
		e.SetID("chg-" + customer)
		e.SetSource("/test")
		e.SetType(event.ProfileChanged)
		e.SetTime(at)
		e.SetExtension(event.ExtPartitionKey, customer)
		if ns != "" {
			e.SetExtension(event.ExtBackfill, true)
			e.SetExtension(event.ExtNamespace, ns)
		}
		ch := profile.Change{Customer: customer, At: at, After: profile.Snapshot{Stage: "N"}, Changed: []string{"stage"}}
		if err := e.SetData(cloudevents.ApplicationJSON, ch); err != nil {
			t.Fatal(err)
		}
		m, err := stream.ToMessage(event.TopicProfiles, e)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := x.handle(context.Background(), []kafka.Message{msg("live", ""), msg("here", "sf"), msg("elsewhere", "sf2")}); err != nil {
		t.Fatal(err)
	}
	if got := stageN(t, x.Index); !slices.Equal(got, []string{"here", "live"}) {
		t.Errorf("stage N: %v, want live and here", got)
	}

	// After a switch to sf2, the updater's changes are those of sf2, and a
	// replay's change of sf is of a namespace no longer live.
	if err := profile.SetLive(context.Background(), rdb, "sf2"); err != nil {
		t.Fatal(err)
	}
	if err := x.handle(context.Background(), []kafka.Message{msg("after", ""), msg("there", "sf2"), msg("old", "sf")}); err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string][]string{"sf": {"here", "live"}, "sf2": {"after", "there"}} {
		if got := stageN(t, x.Index.In(ns)); !slices.Equal(got, want) {
			t.Errorf("stage N of %s: %v, want %v", ns, got, want)
		}
	}
}

// stageN returns the customers of ix, all in stage N, after checking that
// stage N counts them all.
func stageN(t *testing.T, ix *Index) []string {
	t.Helper()
	got, err := ix.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts, err := ix.Counts(context.Background(), Stage)
	if err != nil {
		t.Fatal(err)
	}
	if counts["N"] != int64(len(got)) || len(counts) != 1 {
		t.Errorf("stage counts %v, want N: %d", counts, len(got))
	}
	return got
}
