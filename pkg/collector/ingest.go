package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

// Formats events arrive in, kept on dead letters so they can be replayed.
const (
	formatCloudEvents = "cloudevents"
	formatSegment     = "segment"
)

// Reasons an event is rejected, as dead letters and metrics name them.
const (
	reasonMalformed   = "malformed"    // not JSON, or not an event at all
	reasonUnknownType = "unknown_type" // a type segflow has no schema for
	reasonInvalid     = "invalid"      // breaks its schema or the envelope rules
	reasonTooLarge    = "too_large"    // larger than a Kafka message may be
)

// item is one event of a request on its way through the collector.
type item struct {
	index  int
	raw    []byte // as received, for dead letters
	format string
	ev     cloudevents.Event
	errs   []event.FieldError
	reason string

	topic     string
	key       string // canonical customer id
	ids       ids
	seen      string // dedup marker key
	msg       kafka.Message
	claimed   bool
	duplicate bool
	erased    bool // of a customer erased at or after the event's time: dropped
	written   bool // acknowledged by Kafka
}

// ids are the identity fields every event's data carries.
type ids struct {
	UserID      string `json:"user_id"`
	AnonymousID string `json:"anonymous_id"`
	PreviousID  string `json:"previous_id"`
	Channel     string `json:"channel"`
}

func (it *item) reject(field, rule, format string, args ...any) {
	it.errs = append(it.errs, event.FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (it *item) fail(err error) {
	var inv *event.InvalidError
	if errors.As(err, &inv) {
		it.errs = append(it.errs, inv.Errors...)
		return
	}
	it.reject("", "invalid", "%v", err)
}

func (it *item) ok() bool { return len(it.errs) == 0 }

// toWrite tells whether the item is an event to write to its topic.
func (it *item) toWrite() bool { return it.ok() && !it.duplicate && !it.erased }

func malformed(index int, raw []byte, format, field string, msg string, args ...any) *item {
	it := &item{index: index, raw: raw, format: format, reason: reasonMalformed}
	it.reject(field, "format", msg, args...)
	return it
}

// rejected reports one rejected event of a request.
type rejected struct {
	Index  int                `json:"index"`
	ID     string             `json:"id,omitempty"`
	Errors []event.FieldError `json:"errors"`

	tooLarge bool
}

// ingest validates items, resolves their customers, claims their ids, writes
// the new ones and the dead letters to Kafka in one acknowledged write, and
// then remembers what Kafka acknowledged. When Kafka acknowledges only part of
// the write, the answer lists the events not written, and the error is
// errUnavailable: a retry of the request writes those and answers the others
// as duplicates.
func (c *Collector) ingest(ctx context.Context, src Source, items []*item, received time.Time) (response, error) {
	for _, it := range items {
		if it.ok() {
			c.check(it, src, received)
		}
	}
	if err := c.resolve(ctx, items); err != nil {
		return response{}, err
	}
	for _, it := range items {
		if it.toWrite() {
			c.encode(it)
		}
	}
	if err := c.claim(ctx, items); err != nil {
		return response{}, err
	}

	var resp response
	var msgs []kafka.Message
	var owners []*item
	for _, it := range items {
		switch {
		case it.duplicate:
			resp.Duplicates++
		case it.erased:
			resp.Erased++
		case it.ok():
			msgs, owners = append(msgs, it.msg), append(owners, it)
		default:
			if it.reason == "" {
				it.reason = reasonInvalid
			}
			slices.SortStableFunc(it.errs, func(a, b event.FieldError) int { return strings.Compare(a.Field, b.Field) })
			m, err := c.deadLetter(src, it, received)
			if err != nil {
				c.release(items)
				return response{}, err
			}
			msgs, owners = append(msgs, m), append(owners, it)
			resp.Rejected = append(resp.Rejected, rejected{Index: it.index, ID: it.ev.ID(), Errors: it.errs, tooLarge: it.reason == reasonTooLarge})
		}
	}
	failed := c.write(ctx, msgs)
	lost := 0
	for i, it := range owners {
		switch {
		case failed[i] == nil:
			it.written = true
			if it.ok() {
				resp.Accepted++
			}
		case it.ok():
			resp.Unwritten = append(resp.Unwritten, it.index)
		default:
			lost++ // a dead letter: the retry rejects the event again
		}
	}
	c.release(unwritten(items))
	c.remember(ctx, items)
	c.count(items)
	if n := len(resp.Unwritten) + lost; n > 0 {
		c.m.writeErrors.Inc()
		return resp, fmt.Errorf("%w: kafka acknowledged %d of %d messages (%v); retry the request: the events written are answered as duplicates",
			errUnavailable, len(msgs)-n, len(msgs), firstError(failed))
	}
	return resp, nil
}

// write writes msgs to Kafka and returns, for each, nil if Kafka acknowledged
// it, else why not.
func (c *Collector) write(ctx context.Context, msgs []kafka.Message) []error {
	failed := make([]error, len(msgs))
	if len(msgs) == 0 {
		return failed
	}
	// Not cancelled with the request: a write abandoned half-way would still
	// be sent by the writer, after the claims were released.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stream.MaxWriteDuration(c.cfg.WriteTimeout))
	defer cancel()
	err := c.out.WriteMessages(wctx, msgs...)
	var perMessage kafka.WriteErrors
	switch {
	case err == nil:
	case errors.As(err, &perMessage) && len(perMessage) == len(msgs):
		copy(failed, perMessage)
	default:
		for i := range failed {
			failed[i] = err
		}
	}
	return failed
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// unwritten returns the items of events that Kafka did not acknowledge.
func unwritten(items []*item) []*item {
	var out []*item
	for _, it := range items {
		if it.claimed && !it.written {
			out = append(out, it)
		}
	}
	return out
}

// encode makes the Kafka message of an item to write, or rejects the item if
// the message is larger than the topic takes.
func (c *Collector) encode(it *item) {
	it.ev.SetExtension(event.ExtPartitionKey, it.key)
	m, err := stream.ToMessage(it.topic, it.ev)
	if err != nil {
		it.fail(err)
		return
	}
	if n := stream.MessageSize(m); n > c.cfg.MaxMessageBytes {
		it.reject("", "maxBytes", "the event is %d bytes as a Kafka message; the limit is %d", n, c.cfg.MaxMessageBytes)
		it.reason = reasonTooLarge
		return
	}
	it.msg = m
}

func (c *Collector) count(items []*item) {
	for _, it := range items {
		switch {
		case it.duplicate:
			c.m.duplicates.Inc()
		case it.erased:
			c.m.erased.Inc()
		case !it.ok():
			if it.written {
				c.m.rejected.WithLabelValues(it.reason).Inc()
			}
		case it.written:
			c.m.accepted.WithLabelValues(it.topic).Inc()
		}
	}
}

// check validates an item's data against its schema and sets the attributes
// the collector owns.
func (c *Collector) check(it *item, src Source, received time.Time) {
	topic, err := event.Topic(it.ev.Type())
	if err != nil {
		it.reject("/type", "enum", "%v", err)
		it.reason = reasonUnknownType
		return
	}
	it.topic = topic
	if err := c.validator.Validate(it.ev.Type(), it.ev.Data()); err != nil {
		it.fail(err)
		return
	}
	if err := json.Unmarshal(it.ev.Data(), &it.ids); err != nil {
		it.fail(err)
		return
	}
	if it.ev.Time().IsZero() {
		it.ev.SetTime(received)
	}
	if err := event.CheckTime("time", it.ev.Time(), received, c.cfg.MaxFuture); err != nil {
		it.fail(err)
		return
	}
	channel := it.ids.Channel
	if channel == "" {
		channel = src.Channel
	}
	if channel == "" {
		channel = event.ChannelWeb
	}
	it.ev.SetExtension(event.ExtChannel, channel)
	it.ev.SetExtension(event.ExtReceivedAt, received.UTC().Format(time.RFC3339Nano))
	it.seen = seenKey(it.ev.Source(), it.ev.ID())
}

// deadLetter makes the message that records a rejected item on the
// dead-letter topic. An event too large to be written is recorded without
// its raw form, which would not fit either.
func (c *Collector) deadLetter(src Source, it *item, received time.Time) (kafka.Message, error) {
	d := event.DeadLetter{
		Reason: it.reason, Errors: it.errs, Format: it.format, Source: sourceURI(src),
		Index: it.index, ReceivedAt: received.UTC(),
	}
	d.SetRaw(compact(it.raw))
	m, err := deadLetterMessage(d, it.ev.ID())
	if err != nil || stream.MessageSize(m) <= c.cfg.MaxMessageBytes {
		return m, err
	}
	d.Raw, d.RawText = nil, ""
	return deadLetterMessage(d, it.ev.ID())
}

func deadLetterMessage(d event.DeadLetter, id string) (kafka.Message, error) {
	e, err := d.Event("/collector", "", id)
	if err != nil {
		return kafka.Message{}, err
	}
	return stream.ToMessage(event.TopicInvalid, e)
}

func (c *Collector) logFailure(what string, err error) {
	c.log.Error(what, zap.Error(err))
}
