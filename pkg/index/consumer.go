package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// Erasures tells which customers were erased, and when (pkg/privacy).
type Erasures interface {
	Erased(ctx context.Context, customers []string) (map[string]time.Time, error)
}

// Indexer keeps an Index from the profiles topic, as a consumer group: a
// batch's offsets are committed after it is indexed, and indexing is
// idempotent, so a restart or redelivery leaves the index exact.
//
// The profile-updater publishes the changes of the live namespace
// (profile.LiveKey), resolved per batch; so does the Indexer: each batch goes
// to the index of the namespace live when it is indexed, and a change marked
// with another namespace (the event extension namespace, a replay building
// one) is left out.
type Indexer struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// GroupID is the consumer group. Default "segflow-index".
	GroupID string
	// SessionTimeout is how long the group waits for a member that stopped
	// answering. Default 10s.
	SessionTimeout time.Duration

	// Index is the index of the configured namespace, live until a switch
	// names another.
	Index    *Index
	Erasures Erasures
	// DeadLetters receives the changes that can never be indexed (see
	// stream.Consumer); nil retries them.
	DeadLetters stream.Producer
	// Lag, if set, receives the group's lag (see stream.Consumer).
	Lag *stream.LagMetrics
	// Log receives warnings; nil logs nothing.
	Log *zap.Logger
}

// Run indexes changes until ctx is cancelled.
func (x *Indexer) Run(ctx context.Context) error {
	group := x.GroupID
	if group == "" {
		group = "segflow-index"
	}

	c := &stream.Consumer{
		Brokers: x.Brokers, Security: x.Security, GroupID: group, Topics: []string{event.TopicProfiles}, SessionTimeout: x.SessionTimeout,
		Handle: x.handle,
		Retry: func(step string, err error, backoff time.Duration) {
			x.log().Warn("index step failed; retrying", zap.String("step", step), zap.Error(err), zap.Duration("backoff", backoff))
		},
		DeadLetters: x.DeadLetters, Source: "/index", Lag: x.Lag,
		Rejected: func(m kafka.Message, reason string, err error) {
			x.log().Warn("change dead-lettered", zap.String("reason", reason), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		},
	}
	return c.Run(ctx)
}

func (x *Indexer) log() *zap.Logger {
	if x.Log == nil {
		return zap.NewNop()
	}
	return x.Log
}

func (x *Indexer) handle(ctx context.Context, batch []kafka.Message) error {
	live, err := profile.LiveNamespace(ctx, x.Index.rdb, x.Index.Prefix())
	if err != nil {
		return err
	}
	ix := x.Index
	if live != ix.Prefix() {
		ix = ix.In(live)
	}
	changes := make([]profile.Change, 0, len(batch))
	var customers []string
	var bad []error
	for _, m := range batch {
		e, err := stream.FromMessage(m)
		if err != nil {
			bad = append(bad, stream.RejectMessage(m, "undecodable", err))
			continue
		}
		if e.Type() != event.ProfileChanged {
			continue // another kind of event, for other consumers
		}
		if ns, ok := e.Extensions()[event.ExtNamespace]; ok && fmt.Sprint(ns) != live {
			continue // a replay's change of another namespace, being built
		}
		var ch profile.Change
		if err := json.Unmarshal(e.Data(), &ch); err != nil {
			bad = append(bad, stream.RejectMessage(m, "undecodable", fmt.Errorf("profile change %s: %w", e.ID(), err)))
			continue
		}
		if ch.Customer == "" {
			bad = append(bad, stream.RejectMessage(m, "no-customer", fmt.Errorf("profile change %s has no customer", e.ID())))
			continue
		}
		changes = append(changes, ch)
		customers = append(customers, ch.Customer)
	}
	if len(bad) > 0 {
		return errors.Join(bad...)
	}
	if x.Erasures != nil {
		erased, err := x.Erasures.Erased(ctx, customers)
		if err != nil {
			return fmt.Errorf("read erasures: %w", err)
		}
		kept := changes[:0]
		for _, ch := range changes {
			if !privacy.Dropped(erased, ch.Customer, ch.At) {
				kept = append(kept, ch)
			}
		}
		changes = kept
	}
	return ix.Apply(ctx, changes)
}
