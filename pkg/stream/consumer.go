package stream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumer reads topics as a consumer group in batches and commits a batch's
// offsets only after its handler succeeded, so a crash redelivers what was not
// fully handled: at-least-once delivery, for handlers with exactly-once effect.
type Consumer struct {
	Brokers []string
	// Security is how the consumer connects to Brokers; nil is plaintext.
	Security *Security
	GroupID  string
	Topics   []string
	// BatchSize is the most messages handled together. Default 500.
	BatchSize int
	// BatchWait is how long a batch waits to fill. Default 20ms.
	BatchWait time.Duration
	// TickInterval is how often Tick runs when messages keep coming; it also
	// runs whenever a batch is not full. Default 1s.
	TickInterval time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// answering. Default 10s.
	SessionTimeout time.Duration
	// CommitInterval, if positive, commits offsets in the background at this
	// interval instead of after each batch, and at shutdown; a crash then
	// redelivers up to an interval of handled batches, which suits handlers
	// that recognise what they already did and saves a round trip per batch.
	CommitInterval time.Duration

	// Handle handles a batch. Its context is not cancelled at shutdown, so a
	// batch under way completes; StepTimeout bounds it.
	Handle func(ctx context.Context, batch []kafka.Message) error
	// Tick, if set, runs between batches (for timers that fall due).
	Tick func(ctx context.Context) error
	// Retry, if set, is told of each failed step before it is retried.
	Retry func(step string, err error, backoff time.Duration)
	// Lag, if set, receives the group's lag in every partition of Topics,
	// read every 10s (see LagMonitor).
	Lag *LagMetrics

	// DeadLetters, if set, receives a dead letter (see DeadLetter) for each
	// message that can never be handled (see Permanent), and the batch goes
	// on without it. Unset, such a batch is retried like any failed step.
	DeadLetters Producer
	// Source is the dead letters' CloudEvent source, e.g. "/trigger".
	Source string
	// Rejected, if set, is told of each message dead-lettered.
	Rejected func(m kafka.Message, reason string, err error)
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// StepTimeout bounds one attempt at a step (handle a batch, commit offsets).
const StepTimeout = 30 * time.Second

// FetchBytes is the most a reader asks a partition for in one fetch: 1 MiB,
// Kafka's own consumer default (max.partition.fetch.bytes). A broker answers
// with at least a partition's first record batch, however large. kafka-go
// gives an answer the reader's MaxWait to begin arriving, and a broker that
// builds its answer before sending it (the embedded one does) takes longer
// to begin the larger the answer: a reader fetching 16 MiB with a 50 ms
// MaxWait on a busy machine timed out every time, and asked again from the
// same offset until its caller gave up.
const FetchBytes = 1 << 20

// Run consumes until ctx is cancelled, then returns nil; it returns an error
// only if the brokers deny the consumer (see Denied: its credentials, its
// rights, TLS), the handler rejects a message it was not given, or a dead
// letter cannot be encoded. Failed steps are retried with backoff
// until they succeed or ctx ends, except a batch's permanent failures: the
// messages rejected are dead-lettered (with DeadLetters set) and the rest of
// the batch handled. Nothing is skipped without a dead letter.
func (c *Consumer) Run(ctx context.Context) error {
	c.defaults()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     c.Brokers,
		Dialer:      c.Security.Dialer(),
		GroupID:     c.GroupID,
		GroupTopics: c.Topics,
		MinBytes:    1,
		MaxBytes:    FetchBytes,
		MaxWait:     100 * time.Millisecond,
		// kafka-go waits at least ReadBackoffMin (default 100ms) before
		// fetching again after some fetches, which puts 100ms on a message's
		// way now and then; backing off from 5ms keeps the tail short and
		// still grows to a second while a broker is down.
		ReadBackoffMin:    5 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    c.SessionTimeout,
		HeartbeatInterval: c.SessionTimeout / 4,
		// A restarted member rejoins quickly; the group rebalances within this.
		RebalanceTimeout: c.SessionTimeout,
		// Synchronous commits after the batch is handled, unless the
		// consumer asks for background commits.
		CommitInterval: c.CommitInterval,
	})
	defer r.Close()
	if c.Lag != nil {
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { stop(); <-done }()
		m := &LagMonitor{Brokers: c.Brokers, Security: c.Security, Group: c.GroupID, Topics: c.Topics, Metrics: c.Lag, Failed: func(err error) {
			if c.Retry != nil {
				c.Retry("read lag", err, 0)
			}
		}}
		go func() { defer close(done); _ = m.Run(mctx) }()
	}
	lastTick := time.Time{}
	for ctx.Err() == nil {
		batch, err := c.fetch(ctx, r)
		if err != nil {
			return fmt.Errorf("consume %s as group %s: %w", strings.Join(c.Topics, ","), c.GroupID, err)
		}
		if len(batch) > 0 {
			ok, err := c.handle(ctx, batch)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if !c.retry(ctx, "commit offsets", func(ctx context.Context) error { return r.CommitMessages(ctx, batch...) }) {
				break
			}
		}
		if c.Tick != nil && (len(batch) < c.BatchSize || time.Since(lastTick) >= c.TickInterval) {
			c.retry(ctx, "tick", c.Tick)
			lastTick = time.Now()
		}
	}
	return nil
}

func (c *Consumer) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 20 * time.Millisecond
	}
	if c.TickInterval <= 0 {
		c.TickInterval = time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
}

// fetch reads up to BatchSize messages, waiting at most BatchWait after the
// first one and at most TickInterval for the first. Its error is the brokers
// denying the consumer; other failures (a broker down, a rebalance) the
// reader retries, and fetch returns what it read.
func (c *Consumer) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, cancelFirst := context.WithTimeout(ctx, c.TickInterval)
	defer cancelFirst()
	m, err := r.FetchMessage(first)
	if Denied(err) {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	batch := []kafka.Message{m}
	rest, cancelRest := context.WithTimeout(ctx, c.BatchWait)
	defer cancelRest()
	for len(batch) < c.BatchSize {
		m, err := r.FetchMessage(rest)
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// handle handles batch until it succeeds, and reports whether it did before
// ctx ended. A transient failure is retried with backoff. The messages a
// permanent failure names are dead-lettered and the rest handled again at
// once; one it does not name is found by handling the batch a message at a
// time. The error is one that stops the consumer: a dead letter that cannot
// be encoded, a rejection of a message that is not in the batch.
func (c *Consumer) handle(ctx context.Context, batch []kafka.Message) (bool, error) {
	if c.DeadLetters == nil {
		return c.retry(ctx, "handle batch", func(ctx context.Context) error { return c.Handle(ctx, batch) }), nil
	}
	backoff := 100 * time.Millisecond
	for len(batch) > 0 {
		err := c.attempt(ctx, func(ctx context.Context) error { return c.Handle(ctx, batch) })
		if err == nil {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, nil
		}
		if rs := rejected(err); len(rs) > 0 {
			if ok, err := c.deadLetter(ctx, rs); !ok || err != nil {
				return ok, err
			}
			rest := slices.DeleteFunc(slices.Clone(batch), func(m kafka.Message) bool {
				return slices.ContainsFunc(rs, func(r *Rejection) bool { return sameMessage(*r.Message, m) })
			})
			if len(rest) == len(batch) {
				return false, fmt.Errorf("the handler rejected messages not in its batch: %w", err)
			}
			batch = rest
			continue
		}
		if reason, ok := Permanent(err); ok {
			if len(batch) == 1 {
				return c.deadLetter(ctx, []*Rejection{{Reason: reason, Err: err, Message: &batch[0]}})
			}
			for i := range batch {
				if ok, err := c.handle(ctx, batch[i:i+1]); !ok || err != nil {
					return ok, err
				}
			}
			return true, nil
		}
		if !c.wait(ctx, "handle batch", err, backoff) {
			return false, nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return true, nil
}

func sameMessage(a, b kafka.Message) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && a.Offset == b.Offset
}

// deadLetter writes the dead letters of rs, retrying until Kafka takes them.
func (c *Consumer) deadLetter(ctx context.Context, rs []*Rejection) (bool, error) {
	msgs := make([]kafka.Message, 0, len(rs))
	for _, r := range rs {
		dl, err := DeadLetter(*r.Message, c.Source, r.Reason, r.Err)
		if err != nil {
			return false, fmt.Errorf("dead-letter %s/%d/%d: %w", r.Message.Topic, r.Message.Partition, r.Message.Offset, err)
		}
		msgs = append(msgs, dl)
	}
	if !c.retry(ctx, "dead-letter", func(ctx context.Context) error { return c.DeadLetters.WriteMessages(ctx, msgs...) }) {
		return false, nil
	}
	if c.Rejected != nil {
		for _, r := range rs {
			c.Rejected(*r.Message, r.Reason, r.Err)
		}
	}
	return true, nil
}

// attempt calls fn once, bounded by StepTimeout. fn's context is not
// cancelled with ctx, so a step under way when shutdown begins completes.
func (c *Consumer) attempt(ctx context.Context, fn func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StepTimeout)
	defer cancel()
	return fn(sctx)
}

// wait reports err of step and waits backoff; false if ctx ended first.
func (c *Consumer) wait(ctx context.Context, step string, err error, backoff time.Duration) bool {
	if c.Retry != nil {
		c.Retry(step, err, backoff)
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(backoff):
		return true
	}
}

// retry calls fn until it succeeds, backing off up to 5s, and reports whether
// it did. fn's context is not cancelled with ctx, so a step under way when
// shutdown begins completes; ctx only stops retries.
func (c *Consumer) retry(ctx context.Context, step string, fn func(context.Context) error) bool {
	backoff := 100 * time.Millisecond
	for {
		err := c.attempt(ctx, fn)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || !c.wait(ctx, step, err, backoff) {
			return false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
