package view_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

// randomSummary is a summary as an updater or an erasure publishes it:
// some gone, some never bought, with tags and traits a population does not
// keep.
func randomSummary(r *rand.Rand, i int) profile.Summary {
	s := profile.Summary{Customer: fmt.Sprintf("c%05d", i)}
	switch r.IntN(6) {
	case 0:
		s.Gone = true
		return s
	case 1: // evaluated, never bought
		s.Version, s.At = r.Int64N(3), T.Add(-time.Duration(r.Int64N(1e12)))
		return s
	}
	first := T.Add(-time.Duration(r.Int64N(int64(900 * 24 * time.Hour))))
	s.Version, s.At = 1+r.Int64N(1<<40), T.Add(time.Duration(r.Int64N(1e9))*time.Millisecond)
	s.Orders, s.First, s.Last = 1+r.IntN(50), first, first.Add(time.Duration(r.Int64N(int64(T.Sub(first)))))
	s.F, s.M, s.Lifetime = r.IntN(60), r.Int64N(1<<50)-1<<20, r.Int64N(1<<52)
	s.Tier, s.Tags = "gold", []string{"bought:category:c1", fmt.Sprint("viewed_not_bought:S", i)}
	s.Traits = []event.Trait{{Name: "plan", Kind: event.TraitString, Text: "pro"}}
	return s
}

// populationFields is what profile.Store.Put reads of a summary.
func populationFields(s profile.Summary) string {
	return fmt.Sprintf("%s gone=%t v=%d at=%d last=%d f=%d m=%d", s.Customer, s.Gone, s.Version, s.At.UnixMilli(), s.Last.UnixMilli(), s.F, s.M)
}

// A population follower reads from a summary message's header what the
// event it carries says of the customer's population entry, in the same
// namespace.
func TestTheHeaderOfASummaryMessageSaysWhatItsEventSaysOfThePopulation(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		want := randomSummary(r, i)
		ns := fmt.Sprint("ns", i%3)
		m, err := view.Message(want, "/profile-updater", ns)
		if err != nil {
			t.Fatal(err)
		}
		e, err := stream.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		full, fullNS, err := profile.SummaryOf(e)
		if err != nil {
			t.Fatal(err)
		}
		got, gotNS, ok := view.PopulationOf(m)
		if !ok || gotNS != fullNS || fullNS != ns || populationFields(got) != populationFields(full) {
			t.Fatalf("summary %d: header %q in %q (%v), event %q in %q", i, populationFields(got), gotNS, ok, populationFields(full), fullNS)
		}
		if got.Tags != nil || got.Traits != nil || got.Orders != 0 {
			t.Fatalf("summary %d: the header gave more than the population keeps: %+v", i, got)
		}
	}
}

// A message without the header (from a producer before it), with a header
// cut short or too long, or of another type, is not read from its header:
// the follower decodes the event, or skips it.
func TestASummaryMessageWithoutAWholeHeaderIsNotReadFromIt(t *testing.T) {
	s := profile.Summary{Customer: "c1", Version: 3, At: T, Last: T, F: 2, M: 5_000_000}
	e, err := s.Event("/profile-updater", "sf")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := stream.ToMessage(event.TopicSummaries, e)
	if err != nil {
		t.Fatal(err)
	}
	full, err := view.Message(s, "/profile-updater", "sf")
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(h *kafka.Header)) kafka.Message {
		m := full
		m.Headers = append([]kafka.Header(nil), full.Headers...)
		for i := range m.Headers {
			edit(&m.Headers[i])
		}
		return m
	}
	header := func(fn func(v []byte) []byte) kafka.Message {
		return with(func(h *kafka.Header) {
			if h.Key == "segflow-entry" {
				h.Value = fn(append([]byte(nil), h.Value...))
			}
		})
	}
	for name, m := range map[string]kafka.Message{
		"no header":      plain,
		"empty":          header(func([]byte) []byte { return nil }),
		"cut short":      header(func(v []byte) []byte { return v[:len(v)-1] }),
		"one byte more":  header(func(v []byte) []byte { return append(v, 1) }),
		"another type":   with(func(h *kafka.Header) { maybe(h, "ce_type", event.ProfileChanged) }),
		"no customer id": func() kafka.Message { m := full; m.Key = nil; return m }(),
	} {
		if got, _, ok := view.PopulationOf(m); ok {
			t.Errorf("%s: read %q from the header", name, populationFields(got))
		}
	}
	if _, _, ok := view.PopulationOf(full); !ok {
		t.Error("the whole message was not read from its header")
	}
}

func maybe(h *kafka.Header, key, value string) {
	if h.Key == key {
		h.Value = []byte(value)
	}
}

// A follower of the population is given, for every summary on the topic,
// what a follower decoding every event is given of it, from messages with
// the header and without.
func TestAPopulationFollowerIsGivenWhatTheEventsSay(t *testing.T) {
	k := testenv.StartKafka(t)
	r := rand.New(rand.NewPCG(9, 10))
	var msgs []kafka.Message
	for i := range 300 {
		s := randomSummary(r, i)
		m, err := view.Message(s, "/profile-updater", "sf")
		if i%4 == 0 { // as a producer before the header wrote it
			m, err = stream.ToMessage(event.TopicSummaries, must(s.Event("/profile-updater", "sf")))
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: event.TopicSummaries, Balancer: &kafka.Hash{}, BatchSize: len(msgs)}
	defer w.Close()
	for i := range msgs {
		msgs[i].Topic = ""
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	follow := func(population bool) map[string]string {
		var mu sync.Mutex
		got := map[string]string{}
		f := &view.Follower{Brokers: k.Brokers, Population: population, Log: zaptest.NewLogger(t), Put: func(ns string, s profile.Summary) {
			mu.Lock()
			defer mu.Unlock()
			got[s.Customer] = ns + " " + populationFields(s)
		}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		from := map[int]int64{0: 0, 1: 0, 2: 0} // testenv's 3 partitions
		go func() { done <- f.Run(ctx, from) }()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == len(msgs) || time.Now().After(deadline) {
				break
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return got
	}
	full, population := follow(false), follow(true)
	if len(full) != len(msgs) {
		t.Fatalf("the follower decoding every event was given %d summaries of %d", len(full), len(msgs))
	}
	for c, want := range full {
		if population[c] != want {
			t.Errorf("%s: the population follower was given %q, the events say %q", c, population[c], want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
