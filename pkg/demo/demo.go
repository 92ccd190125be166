// Package demo bundles the CDNOW sample (README.md beside this file) and
// loads it into a pipeline in event time, so that a first run shows what
// segflow does with 18 months of real purchases: buyers, segments, a NES
// history by day and the campaigns' decisions.
//
// Load writes the sample's orders to the purchase topic through the importer
// and a consent of every customer to every channel to the identify topic,
// then replays those topics into the live namespace, not in place: each
// event is evaluated as of its own time and the profile changes are
// published marked backfill, so that the segment index records the NES
// distribution of each day of the sample and the trigger service sends
// nothing for the past. The replay ends at End; the pipeline's clock, a little
// later (Clock), then brings the changes of the days between live, and the
// campaigns act on them.
//
// The live profile-updater must not run during Load: it evaluates as of its
// clock, and its timers would move profiles to Clock in the middle of the
// replay.
//
// Load is idempotent: once it has finished, the namespace records it
// (LoadedKey), and a second Load on the same Redis does nothing. A load that
// did not finish starts over; writing an event twice is harmless, since
// profiles apply an event id once.
package demo

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
)

//go:embed cdnow/CDNOW_sample.txt
var sample string

// Source is the CloudEvent source of the sample's events, and the importer's
// record of the orders written (importer.DoneKey).
const Source = "/demo/cdnow"

// Currency is the sample's: its amounts are US dollars.
const Currency = "USD"

var (
	// End is the end of the sample: the day after its last order. The
	// replay evaluates the profiles up to it.
	End = time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	// Clock is the demo pipeline's clock (segflow run --demo sets --now to
	// it): a week after End, so that the customers who doze off in that
	// week do so live and the campaigns decide on them, at 14:00 in Taipei,
	// outside the example campaigns' quiet hours.
	Clock = End.Add(7*24*time.Hour + 6*time.Hour)
)

// Order is one row of the sample.
type Order struct {
	ID       string    // <customer>-<YYYYMMDD>-<n>, n the row's number among the customer's rows of the day
	Customer string    // the master customer id, zero-padded
	Time     time.Time // 00:00 UTC on the row's day
	Total    string    // dollars, two decimals
}

// Orders returns the sample's orders in file order (by customer, then date).
func Orders() ([]Order, error) {
	var out []Order
	perDay := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(sample))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("cdnow sample line %d: %d fields, want 5", line, len(f))
		}
		customer, date, total := f[0], f[2], f[4]
		day, err := time.Parse("20060102", date)
		if err != nil {
			return nil, fmt.Errorf("cdnow sample line %d: %w", line, err)
		}
		if _, err := strconv.ParseFloat(total, 64); err != nil {
			return nil, fmt.Errorf("cdnow sample line %d: dollar value %q", line, total)
		}
		key := customer + "-" + date
		perDay[key]++
		out = append(out, Order{ID: key + "-" + strconv.Itoa(perDay[key]), Customer: customer, Time: day, Total: total})
	}
	return out, sc.Err()
}

// ordersCSV is orders as the importer reads them.
func ordersCSV(orders []Order) string {
	var b strings.Builder
	b.WriteString("order_id,customer_id,time,total,currency\n")
	for _, o := range orders {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", o.ID, o.Customer, o.Time.Format(time.RFC3339), o.Total, Currency)
	}
	return b.String()
}

// Config configures Load.
type Config struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// Store is the live namespace, which the sample is loaded into. Its
	// currency must be Currency.
	Store *profile.Store
	// Out writes the sample's events and the replay's profile changes.
	Out stream.Producer
	// Log receives the replay's progress; nil logs nothing.
	Log *zap.Logger
}

// Result is what Load did.
type Result struct {
	// Loaded tells that the namespace held the sample already: nothing was
	// done.
	Loaded   bool
	Orders   importer.Summary
	Consents int
	Replay   replay.Result
}

// Load loads the sample into cfg.Store, unless it holds it already.
func Load(ctx context.Context, cfg Config, rdb redis.UniversalClient) (Result, error) {
	if cfg.Store.Currency() != Currency {
		return Result{}, fmt.Errorf("demo: the sample is in %s, the store currency is %s", Currency, cfg.Store.Currency())
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	key := LoadedKey(cfg.Store.Prefix())
	n, err := rdb.Exists(ctx, key).Result()
	if err != nil {
		return Result{}, fmt.Errorf("demo: read %s: %w", key, err)
	}
	if n > 0 {
		return Result{Loaded: true}, nil
	}
	orders, err := Orders()
	if err != nil {
		return Result{}, err
	}
	// Whatever an unfinished load wrote may be missing from the topics (an
	// embedded broker starts empty), so the orders are all written again.
	if err := importer.Forget(ctx, rdb, Source); err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	im, err := importer.New(importer.Config{Source: Source, Currency: Currency}, cfg.Out, rdb)
	if err != nil {
		return Result{}, err
	}
	var res Result
	res.Orders, err = im.Import(ctx, strings.NewReader(ordersCSV(orders)), importer.CSV)
	if err != nil {
		return res, fmt.Errorf("demo: import the orders: %w", err)
	}
	if len(res.Orders.Errors) > 0 {
		return res, fmt.Errorf("demo: import the orders: %v", res.Orders.Errors[0])
	}
	msgs, err := consents(orders, time.Now())
	if err != nil {
		return res, err
	}
	if err := cfg.Out.WriteMessages(ctx, msgs...); err != nil {
		return res, fmt.Errorf("demo: write %d consents: %w", len(msgs), err)
	}
	res.Consents = len(msgs)
	r, err := replay.New(replay.Config{
		Brokers: cfg.Brokers, Security: cfg.Security, Topics: []string{event.TopicIdentify, event.TopicPurchase},
		Changes: replay.ChangesBackfill, Fresh: true, Now: func() time.Time { return End },
	}, cfg.Store, rdb, cfg.Out, log)
	if err != nil {
		return res, err
	}
	if res.Replay, err = r.Run(ctx); err != nil {
		return res, fmt.Errorf("demo: replay the sample: %w", err)
	}
	if err := rdb.Set(ctx, key, time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return res, fmt.Errorf("demo: record the load: %w", err)
	}
	return res, nil
}

// consents are identify events by which each customer of orders consents to
// every channel, a minute before their first order, so that the campaigns
// may send to them.
func consents(orders []Order, received time.Time) ([]kafka.Message, error) {
	first := map[string]time.Time{}
	var customers []string
	for _, o := range orders {
		t, ok := first[o.Customer]
		if !ok {
			customers = append(customers, o.Customer)
		}
		if !ok || o.Time.Before(t) {
			first[o.Customer] = o.Time
		}
	}
	msgs := make([]kafka.Message, 0, len(customers))
	for _, c := range customers {
		data, err := json.Marshal(map[string]any{"user_id": c, "consent": map[string]bool{"email": true, "sms": true, "push": true, "line": true}})
		if err != nil {
			return nil, err
		}
		e := cloudevents.NewEvent()
		e.SetID("consent-" + c)
		e.SetSource(Source)
		e.SetType(event.Identify)
		e.SetTime(first[c].Add(-time.Minute))
		e.SetExtension(event.ExtPartitionKey, c)
		e.SetExtension(event.ExtReceivedAt, received.UTC().Format(time.RFC3339Nano))
		e.SetExtension(event.ExtBackfill, true)
		if err := e.SetData(cloudevents.ApplicationJSON, json.RawMessage(data)); err != nil {
			return nil, err
		}
		m, err := stream.ToMessage(event.TopicIdentify, e)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}
