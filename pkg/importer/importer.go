// Package importer turns historical orders — a CSV file or JSON lines — into
// purchase CloudEvents on the purchase topic, so that a brand starts with real
// RFM from day one.
//
// Every row becomes a segflow.purchase.order_completed (or order_refunded)
// event validated against its schema, keyed by the row's customer id like the
// collector keys events, timed at the order's time, with a stable id derived
// from the import source, the kind of row and the order id. So the same row
// always makes the same event.
//
// Imported events carry the backfill extension: the profile-updater applies
// them like any order, and the trigger service takes no decision on them (no
// habit coupon, no conversion, for an order of the past).
//
// Re-importing writes nothing new: after Kafka acknowledged a batch, the ids
// written are recorded in the Redis hash import:{#<source>}:done, and a row
// whose id is recorded there (or that repeats an id earlier in the file) is
// skipped, not written. Only a crash between Kafka's acknowledgement and that
// record can make a second import write a batch again; the events carry the
// same ids, and the profile store joins orders by order id and refunds by
// event id, so even then no profile changes.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/stream"
)

// Config configures an Importer. Zero values mean the defaults on each field.
type Config struct {
	// Source is the CloudEvent source of the imported events, and what the
	// record of written ids is kept under. Default "/import/orders".
	Source string
	// Currency is the currency of rows that name none. Empty: a row must name
	// its currency.
	Currency string
	// Location is the time zone of times written without one. Default UTC.
	Location *time.Location
	// Channel is the channel of rows that name none: web, app or pos. Default web.
	Channel string
	// BatchSize is how many events are written to Kafka at once. Default 500.
	BatchSize int
	// Now is the clock of the receivedat extension. Default time.Now.
	Now func() time.Time
	// MaxFuture is how far past the import an order's time may be; such a
	// row is an error (see event.CheckTime). Default
	// event.DefaultMaxFuture, at most event.MaxFutureLimit.
	MaxFuture time.Duration
}

func (c *Config) defaults() {
	if c.Source == "" {
		c.Source = "/import/orders"
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Channel == "" {
		c.Channel = event.ChannelWeb
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxFuture = event.MaxFuture(c.MaxFuture)
}

// Producer writes messages and returns once they are acknowledged.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Importer writes historical orders to the purchase topic.
type Importer struct {
	cfg       Config
	out       Producer
	rdb       redis.UniversalClient
	validator *event.Validator
	// Progress, if set, is told how many rows have been read after each batch.
	Progress func(rows int)
}

// New returns an importer writing to out and recording written ids in rdb.
func New(cfg Config, out Producer, rdb redis.UniversalClient) (*Importer, error) {
	cfg.defaults()
	if !event.IsChannel(cfg.Channel) {
		return nil, fmt.Errorf("importer: channel %q is not web, app or pos", cfg.Channel)
	}
	v, err := event.NewValidator()
	if err != nil {
		return nil, err
	}
	return &Importer{cfg: cfg, out: out, rdb: rdb, validator: v}, nil
}

// Formats of input files.
const (
	CSV       = "csv"
	JSONLines = "jsonl"
)

// RowError is a row that could not be imported.
type RowError struct {
	Line int // 1-based line of the file where the row starts
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Summary is what an import did.
type Summary struct {
	Rows    int // data rows read
	Written int // events written to Kafka
	Skipped int // rows already imported, or repeating an order earlier in the file
	Errors  []RowError
}

func (s Summary) String() string {
	return fmt.Sprintf("%d rows: %d written, %d already imported, %d errors", s.Rows, s.Written, s.Skipped, len(s.Errors))
}

// DoneKey is the Redis hash that records whether the import from source
// wrote the event id: id -> "1". The record of a source is split by event id
// into the shards of [keys.Shard], so that on a cluster no master holds all
// of it: import:{#<source>.<n>.<k>}:done.
func DoneKey(source, id string) string { return keys.Shard("import", keys.Tag(source), id) + ":done" }

// Forget deletes the import record of source, every shard of it, so that
// the next import from source writes every row again.
func Forget(ctx context.Context, rdb redis.UniversalClient, source string) error {
	pipe := rdb.Pipeline()
	for n := range keys.Shards {
		pipe.Del(ctx, keys.ShardN("import", keys.Tag(source), n)+":done")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forget the import record of %s: %w", source, err)
	}
	return nil
}

// namespace makes the stable event ids: UUIDs (version 5) of source, kind and
// order id.
var namespace = uuid.MustParse("6f1c7a56-3c4e-4a8e-9d0f-2b1e7c9a4d21")

// EventID is the id of the event imported from source for the order (or
// refund, when refund is true) with id orderID.
func EventID(source, orderID string, refund bool) string {
	kind := "order"
	if refund {
		kind = "refund"
	}
	return uuid.NewSHA1(namespace, []byte(source+"\x00"+kind+"\x00"+orderID)).String()
}

// Import reads rows of format (CSV or JSONLines) from r and writes the new
// ones. Bad rows are reported in the summary and do not stop the import; an
// error is returned only when reading, Kafka or Redis fails, with the summary
// of what was done before.
func (im *Importer) Import(ctx context.Context, r io.Reader, format string) (Summary, error) {
	var rows rowReader
	switch format {
	case CSV:
		cr, err := newCSVReader(r)
		if err != nil {
			return Summary{}, err
		}
		rows = cr
	case JSONLines:
		rows = newJSONReader(r)
	default:
		return Summary{}, fmt.Errorf("import: unknown format %q: want %s or %s", format, CSV, JSONLines)
	}
	var sum Summary
	var batch []pending
	inFile := map[string]bool{}
	for {
		row, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re RowError
		if errors.As(err, &re) {
			sum.Rows++
			sum.Errors = append(sum.Errors, re)
			continue
		}
		if err != nil {
			return sum, err
		}
		sum.Rows++
		msg, id, err := im.message(row)
		if err != nil {
			sum.Errors = append(sum.Errors, RowError{Line: row.line, Err: err})
			continue
		}
		if inFile[id] {
			sum.Skipped++
			continue
		}
		inFile[id] = true
		batch = append(batch, pending{id: id, msg: msg})
		if len(batch) >= im.cfg.BatchSize {
			if err := im.flush(ctx, batch, &sum); err != nil {
				return sum, err
			}
			batch = batch[:0]
		}
	}
	if err := im.flush(ctx, batch, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

type pending struct {
	id  string
	msg kafka.Message
}

// flush writes the events of batch that were not written before, then
// records them written.
func (im *Importer) flush(ctx context.Context, batch []pending, sum *Summary) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, len(batch))
	for i, p := range batch {
		ids[i] = p.id
	}
	done, err := keyspace.HMGet(ctx, im.rdb, ids, func(id string) string { return DoneKey(im.cfg.Source, id) })
	if err != nil {
		return fmt.Errorf("read imported ids: %w", err)
	}
	var msgs []kafka.Message
	fresh := map[string][]any{} // shard -> id, "1", …
	for i, p := range batch {
		if done[i] != nil {
			sum.Skipped++
			continue
		}
		msgs = append(msgs, p.msg)
		k := DoneKey(im.cfg.Source, p.id)
		fresh[k] = append(fresh[k], p.id, "1")
	}
	if len(msgs) > 0 {
		if err := im.out.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("write %d orders to kafka: %w", len(msgs), err)
		}
		_, err := im.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for k, f := range fresh {
				pipe.HSet(ctx, k, f...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record imported ids: %w", err)
		}
		sum.Written += len(msgs)
	}
	if im.Progress != nil {
		im.Progress(sum.Rows)
	}
	return nil
}

// message turns a row into its purchase event on the purchase topic.
func (im *Importer) message(r row) (kafka.Message, string, error) {
	if r.orderID == "" {
		return kafka.Message{}, "", errors.New("order id is empty")
	}
	if r.customer == "" {
		return kafka.Message{}, "", errors.New("customer id is empty")
	}
	at, err := parseTime(r.time, im.cfg.Location)
	if err != nil {
		return kafka.Message{}, "", err
	}
	received := im.cfg.Now()
	if err := event.CheckTime("time", at, received, im.cfg.MaxFuture); err != nil {
		return kafka.Message{}, "", err
	}
	refund, err := r.refund()
	if err != nil {
		return kafka.Message{}, "", err
	}
	typ := event.OrderCompleted
	if refund {
		typ = event.OrderRefunded
	}
	if r.currency == "" {
		r.currency = im.cfg.Currency
	}
	channel := r.channel
	if channel == "" {
		channel = im.cfg.Channel
	}
	data, err := r.data(channel)
	if err != nil {
		return kafka.Message{}, "", err
	}
	if err := im.validator.Validate(typ, data); err != nil {
		return kafka.Message{}, "", err
	}
	id := EventID(im.cfg.Source, r.orderID, refund)
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource(im.cfg.Source)
	e.SetType(typ)
	e.SetTime(at)
	e.SetDataSchema(event.SchemaURL(typ))
	e.SetExtension(event.ExtPartitionKey, r.customer)
	e.SetExtension(event.ExtChannel, channel)
	e.SetExtension(event.ExtReceivedAt, received.UTC().Format(time.RFC3339Nano))
	e.SetExtension(event.ExtBackfill, true)
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = data
	m, err := stream.ToMessage(event.TopicPurchase, e)
	return m, id, err
}

// timeLayouts are the forms of order times accepted, tried in order. Those
// without a zone are read in Config.Location.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"20060102",
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("time is empty")
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339, \"2006-01-02 15:04:05\", \"2006-01-02\" or \"20060102\"", s)
}
