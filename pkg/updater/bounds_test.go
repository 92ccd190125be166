package updater_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestEveryEventTheCollectorAcceptsTheUpdaterApplies generates purchase and
// cart events valid by their schemas — amounts anywhere up to the largest,
// as decimal strings and as minor units, times anywhere from the Unix epoch
// to the allowed skew past receipt, and the edge values themselves — sends
// them through the collector, and checks that the profile-updater applies
// every one (nothing is dead-lettered) and that each customer's lifetime
// spend and M are what an independent computation with math/big gives.
func TestEveryEventTheCollectorAcceptsTheUpdaterApplies(t *testing.T) {
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	rdb := testenv.StartRedis(t).Client(t)
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	col, err := collector.New(collector.Config{
		WriteKeys: map[string]collector.Source{"key": {Name: "web"}},
		Now:       func() time.Time { return received },
	}, w, rdb, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	col.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	rng := rand.New(rand.NewPCG(11, 12))
	// amount returns a JSON amount valid by the schema and its micros.
	amount := func() (string, int64) {
		switch rng.IntN(8) {
		case 0:
			return `"999999999.999999"`, int64(money.MaxAmount)
		case 1:
			return `999999999`, money.MaxMinorUnits * 10_000 // cents of USD
		case 2:
			return `"0"`, 0
		case 3:
			n := rng.Int64N(money.MaxMinorUnits + 1)
			return fmt.Sprint(n), n * 10_000
		}
		units, frac := rng.Int64N(1_000_000_000), rng.Int64N(1_000_000)
		if rng.IntN(2) == 0 {
			units = rng.Int64N(1000) // small amounts too, so that some sums stay below the cap
		}
		return fmt.Sprintf(`"%d.%06d"`, units, frac), units*1_000_000 + frac
	}
	earliest, latest := event.MinTime, received.Add(event.DefaultMaxFuture)
	when := func() time.Time {
		switch rng.IntN(6) {
		case 0:
			return earliest
		case 1:
			return latest
		case 2: // within the RFM window
			return received.Add(-time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
		}
		return earliest.Add(time.Duration(rng.Int64N(int64(latest.Sub(earliest)) + 1)))
	}

	type entry struct {
		at     time.Time
		micros int64
		refund bool
	}
	customers := []string{"c0", "c1", "c2", "c3", "c4"}
	history := map[string][]entry{}
	var events []string
	for i := range 400 {
		c := customers[rng.IntN(len(customers))]
		at := when()
		total, micros := amount()
		typ, data := event.OrderCompleted, ""
		switch rng.IntN(4) {
		case 0:
			typ = event.OrderRefunded
			data = fmt.Sprintf(`{"user_id":%q,"order_id":"o%d","total":%s,"currency":"USD"}`, c, rng.IntN(i+1), total)
			history[c] = append(history[c], entry{at, micros, true})
		case 1:
			typ = event.ProductAdded
			data = fmt.Sprintf(`{"user_id":%q,"product":{"sku":"s%d","price":%s,"currency":"JPY"},"quantity":%d}`, c, i, total, 1+rng.IntN(1_000_000))
		default:
			data = fmt.Sprintf(`{"user_id":%q,"order_id":"o%d","total":%s,"currency":"USD","discount":%s}`, c, i, total, total)
			history[c] = append(history[c], entry{at, micros, false})
		}
		events = append(events, fmt.Sprintf(`{"specversion":"1.0","id":"e%d","source":"/shop","type":%q,"time":%q,"datacontenttype":"application/json","data":%s}`,
			i, typ, at.Format(time.RFC3339Nano), data))
	}
	post := func(events []string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader("["+strings.Join(events, ",")+"]"))
		req.Header.Set("Content-Type", "application/cloudevents-batch+json")
		req.Header.Set("Authorization", "Bearer key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			Accepted int             `json:"accepted"`
			Rejected json.RawMessage `json:"rejected"`
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		if err := json.Unmarshal(body.Bytes(), &a); err != nil || resp.StatusCode != 200 || a.Accepted != len(events) {
			t.Fatalf("collector answered %d %s, want all %d events accepted", resp.StatusCode, body.Bytes(), len(events))
		}
	}
	post(events)
	// A last order per customer, sent after the rest: once it is applied,
	// everything before it on the customer's partition is.
	var last []string
	for _, c := range customers {
		last = append(last, fmt.Sprintf(`{"specversion":"1.0","id":"last-%s","source":"/shop","type":%q,"time":%q,"data":{"user_id":%q,"order_id":"last","total":"0","currency":"USD"}}`,
			c, event.OrderCompleted, received.Format(time.RFC3339), c))
		history[c] = append(history[c], entry{received, 0, false})
	}
	post(last)

	store := profile.New(rdb, profile.Config{Currency: "USD"})
	run(t, k.Brokers, store, w, received)
	var ps []profile.Profile
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps, err = store.Get(context.Background(), received, customers)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for i, c := range customers {
			want := 0
			for _, e := range history[c] {
				if !e.refund {
					want++
				}
			}
			done = done && ps[i].Orders == want
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every order was applied within a minute: %+v", ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if dead := k.ReadTopic(t, event.TopicInvalid, 0, time.Second); len(dead) > 0 {
		t.Errorf("%d events dead-lettered, want none; the first: %s", len(dead), dead[0].Value)
	}

	capped := func(v *big.Int) int64 {
		switch {
		case v.Sign() < 0:
			return 0
		case v.Cmp(big.NewInt(9_000_000_000_000_000)) > 0: // 9e9 units, the documented cap
			return 9_000_000_000_000_000
		}
		return v.Int64()
	}
	from := received.Add(-365 * 24 * time.Hour)
	for i, c := range customers {
		lifetime, m := new(big.Int), new(big.Int)
		for _, e := range history[c] {
			x := big.NewInt(e.micros)
			if e.refund {
				x.Neg(x)
			}
			lifetime.Add(lifetime, x)
			if e.at.After(from) && !e.at.After(received) {
				m.Add(m, x)
			}
		}
		if got, want := ps[i].Lifetime, capped(lifetime); got != want {
			t.Errorf("%s: lifetime %d, want %d (exact %s)", c, got, want, lifetime)
		}
		if got, want := ps[i].Values.M, capped(m); got != want {
			t.Errorf("%s: M %d, want %d (exact %s)", c, got, want, m)
		}
	}
}
