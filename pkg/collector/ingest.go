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
	claimed   bool
	duplicate bool
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
}

// ingest validates items, resolves their customers, claims their ids, writes
// the new ones and the dead letters to Kafka in one acknowledged write, and
// then remembers what it wrote.
func (c *Collector) ingest(ctx context.Context, src Source, items []*item, received time.Time) (response, error) {
	for _, it := range items {
		if it.ok() {
			c.check(it, src, received)
		}
	}
	links := batchLinks(items)
	if err := c.resolve(ctx, items, links); err != nil {
		return response{}, err
	}
	if err := c.claim(ctx, items); err != nil {
		return response{}, err
	}

	var resp response
	msgs := make([]kafka.Message, 0, len(items))
	for _, it := range items {
		if !it.ok() || it.duplicate {
			continue
		}
		m, err := stream.ToMessage(it.topic, it.ev)
		if err != nil {
			it.fail(err)
			continue
		}
		msgs = append(msgs, m)
		resp.Accepted++
	}
	for _, it := range items {
		switch {
		case it.duplicate:
			resp.Duplicates++
		case !it.ok():
			if it.reason == "" {
				it.reason = reasonInvalid
			}
			slices.SortStableFunc(it.errs, func(a, b event.FieldError) int { return strings.Compare(a.Field, b.Field) })
			m, err := deadLetter(src, it, received)
			if err != nil {
				return response{}, err
			}
			msgs = append(msgs, m)
			resp.Rejected = append(resp.Rejected, rejected{Index: it.index, ID: it.ev.ID(), Errors: it.errs})
		}
	}
	if len(msgs) > 0 {
		// Not cancelled with the request: a write abandoned half-way would still
		// be sent by the writer, after the claims were released.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stream.MaxWriteDuration(c.cfg.WriteTimeout))
		err := c.out.WriteMessages(wctx, msgs...)
		cancel()
		if err != nil {
			c.m.writeErrors.Inc()
			c.release(items)
			return response{}, fmt.Errorf("%w: write to kafka: %v", errUnavailable, err)
		}
	}
	c.remember(ctx, items, links)

	for _, it := range items {
		switch {
		case it.duplicate:
			c.m.duplicates.Inc()
		case !it.ok():
			c.m.rejected.WithLabelValues(it.reason).Inc()
		default:
			c.m.accepted.WithLabelValues(it.topic).Inc()
		}
	}
	return resp, nil
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

func deadLetter(src Source, it *item, received time.Time) (kafka.Message, error) {
	d := event.DeadLetter{
		Reason: it.reason, Errors: it.errs, Format: it.format, Source: sourceURI(src),
		Index: it.index, ReceivedAt: received.UTC(),
	}
	d.SetRaw(compact(it.raw))
	e, err := d.Event("/collector", "", it.ev.ID())
	if err != nil {
		return kafka.Message{}, err
	}
	return stream.ToMessage(event.TopicInvalid, e)
}

func (c *Collector) logFailure(what string, err error) {
	c.log.Error(what, zap.Error(err))
}
