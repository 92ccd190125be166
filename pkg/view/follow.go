package view

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// Keeping a view current. A view is built from the profile store (Load) and
// then follows the summaries the profile-updater publishes on
// event.TopicSummaries after every evaluation (Follower). Following starts
// at the end offsets read before the load began (stream.EndOffsets), so that no summary
// published during the load is missed; summaries the load already saw
// change nothing when they come again (View.Put keeps the newest), so the
// view converges to the store's state, as a Kafka Streams table restored
// from a changelog does. Every replica follows every partition: no consumer
// group, no coordination. Views does this for each namespace asked for.

// Load puts every customer of store into v, a page of the store's scan at a
// time.
func Load(ctx context.Context, store *profile.Store, v *View) error {
	return store.Customers(ctx, func(customers []string) error {
		sums, err := store.Summaries(ctx, customers)
		if err != nil {
			return err
		}
		v.Put(sums...)
		return nil
	})
}

// Follower keeps populations current from the summaries topic: a View, or
// the population a profile store scores against (profile.Live.Put).
type Follower struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// Put is given each summary and the namespace it was evaluated in.
	Put func(ns string, s profile.Summary)
	// Population: Put needs only what a population keeps of a summary
	// (profile.Store.Put: Customer, Gone, Version, At, Last, F and M),
	// which it is given from the message's headers (message.go), without
	// the rest.
	Population bool
	Log        *zap.Logger
}

// Of returns the Put of a follower that keeps v, the view of namespace ns,
// current: summaries of other namespaces (a rebuild) are left out.
func Of(ns string, v *View) func(string, profile.Summary) {
	return func(in string, s profile.Summary) {
		if in == ns {
			v.Put(s)
		}
	}
}

func (f *Follower) log() *zap.Logger {
	if f.Log == nil {
		return zap.NewNop()
	}
	return f.Log
}

// Run follows every partition from the offsets from until ctx ends, and
// returns the first error that stops one.
func (f *Follower) Run(ctx context.Context, from map[int]int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(from))
	var wg sync.WaitGroup
	for p, off := range from {
		wg.Go(func() {
			if err := f.follow(ctx, p, off); err != nil && ctx.Err() == nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (f *Follower) follow(ctx context.Context, partition int, offset int64) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: f.Brokers, Dialer: f.Security.Dialer(), Topic: event.TopicSummaries, Partition: partition,
		MinBytes: 1, MaxBytes: stream.FetchBytes, MaxWait: 100 * time.Millisecond, ReadBackoffMin: 5 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return fmt.Errorf("follow %s/%d from %d: %w", event.TopicSummaries, partition, offset, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s/%d: %w", event.TopicSummaries, partition, err)
		}
		if f.Population {
			if s, ns, ok := PopulationOf(m); ok {
				f.Put(ns, s)
				continue
			}
		}
		e, err := stream.FromMessage(m)
		if err != nil {
			f.log().Warn("not a CloudEvent on the summaries topic", zap.Int("partition", partition), zap.Int64("offset", m.Offset), zap.Error(err))
			continue
		}
		s, ns, err := profile.SummaryOf(e)
		if err != nil {
			f.log().Warn("not a profile summary", zap.Int("partition", partition), zap.Int64("offset", m.Offset), zap.Error(err))
			continue
		}
		f.Put(ns, s)
	}
}
