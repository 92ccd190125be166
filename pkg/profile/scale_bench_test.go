package profile_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

// BenchmarkApplyTwoWriters measures how the updater scales out: the same
// batches (the mix of BenchmarkApply over customers with a typical year) are
// applied as the updater applies them by one writer and by two writers at
// once, in rounds of benchRound batches each taken by one and then by two,
// each of the two given the customers of its Kafka partitions (half the
// customers, by the hash of their id) and its own cache, as two processes of
// one consumer group are. A writer does what an updater process does with a
// batch short of Kafka's reads and writes: Apply, the evaluated customers'
// summaries, Commit, the summaries encoded as the messages it publishes
// (updater), and, as its population follower does, every writer's summary
// messages decoded and put into its population, its own included (one
// process follows all summaries, however many there are: the part that does
// not scale out).
//
// It reports both rates and two-writers-speedup, their ratio, and fails if
// the two namespaces do not hold the same profiles. Both writers run in this
// process and share its cores and the one redis-server, so on a machine
// without spare cores that speedup says little. What two processes do on
// machines of their own is measured in CPU time: the process's CPU per
// event with one writer and with two (each then applies half the events and
// follows all), and their quotient two-writers-speedup-per-cpu, 2 × one's
// CPU per event / two's: the rate of two processes with the cores one has,
// as long as Redis keeps up (its CPU per event with two writers is
// reported too).
func BenchmarkApplyTwoWriters(b *testing.B) {
	rdb := benchRedis(b)
	g := newBenchGen(b, uint64(b.N)+7)
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("c%07d", i)
	}
	benchApply(b, newBenchStore(b, rdb, "one"), g.typicalYear(customers))
	copyPrefix(b, rdb, "one", "two")
	batches := make([][]profile.Op, b.N)
	for i := range batches {
		batches[i] = g.mixed(benchBatch)
	}

	b.ResetTimer()
	// The batches are taken in rounds, each by one writer and then by two,
	// so that the machine's drifts in speed weigh on both alike.
	one := &benchWriter{s: newBenchStore(b, rdb, "one")}
	writers := []*benchWriter{{s: newBenchStore(b, rdb, "two")}, {s: newBenchStore(b, rdb, "two")}}
	var alone, two, oneCPU, twoCPU time.Duration
	var oneRedis, twoRedis float64
	measure := func(fn func(), wall, cpu *time.Duration, redisCPU *float64) {
		cpu0, redis0, t0 := processCPU(b), redisStats(b, rdb), time.Now()
		fn()
		*wall += time.Since(t0)
		*cpu += processCPU(b) - cpu0
		*redisCPU += redisStats(b, rdb).cpu - redis0.cpu
	}
	for lo := 0; lo < len(batches); lo += benchRound {
		round := batches[lo:min(lo+benchRound, len(batches))]
		measure(func() {
			for _, ops := range round {
				one.follow(b, one.batch(b, ops))
			}
		}, &alone, &oneCPU, &oneRedis)
		measure(func() { twoWriters(b, writers, round) }, &two, &twoCPU, &twoRedis)
	}
	b.StopTimer()

	events := float64(b.N * benchBatch)
	b.ReportMetric(events/alone.Seconds(), "one-writer-events/s")
	b.ReportMetric(events/two.Seconds(), "two-writers-events/s")
	b.ReportMetric(alone.Seconds()/two.Seconds(), "two-writers-speedup")
	b.ReportMetric(float64(oneCPU.Microseconds())/events, "one-writer-cpu-us/event")
	b.ReportMetric(float64(twoCPU.Microseconds())/events, "two-writers-cpu-us/event")
	b.ReportMetric(2*oneCPU.Seconds()/twoCPU.Seconds(), "two-writers-speedup-per-cpu")
	b.ReportMetric(oneRedis/events, "one-writer-redis-cpu-us/event")
	b.ReportMetric(twoRedis/events, "two-writers-redis-cpu-us/event")
	// Scores and tags depend on the population each writer saw (updaters
	// follow each other's summaries as they come), so the profiles are
	// compared by what the events made of them (CustomerKeys).
	if one, two := testenv.CustomerKeys(b, rdb, "one"), testenv.CustomerKeys(b, rdb, "two"); len(one) < benchCustomers || !maps.Equal(one, two) {
		b.Fatal("two writers left other profiles than one")
	}
}

// benchRound is how many batches BenchmarkApplyTwoWriters takes at once
// by one writer, then by two.
const benchRound = 50

// twoWriters applies batches by two writers at once, each given the
// customers of its partitions; each follows its own summaries and the
// other's as they come, as a population follower reads the summaries
// topic, and all of them before it returns.
func twoWriters(b *testing.B, writers []*benchWriter, batches [][]profile.Op) {
	published := []chan []kafka.Message{make(chan []kafka.Message, len(batches)), make(chan []kafka.Message, len(batches))}
	var wg sync.WaitGroup
	for w, wr := range writers {
		wg.Go(func() {
			other, followed := published[1-w], 0
			for _, ops := range batches {
				var mine []profile.Op
				for _, op := range ops {
					if keys.ShardOf(op.Customer)%2 == w {
						mine = append(mine, op)
					}
				}
				msgs := wr.batch(b, mine)
				published[w] <- msgs
				wr.follow(b, msgs)
				for more := true; more; {
					select {
					case m := <-other:
						wr.follow(b, m)
						followed++
					default:
						more = false
					}
				}
			}
			for range len(batches) - followed {
				wr.follow(b, <-other)
			}
		})
	}
	wg.Wait()
}

// benchWriter is one updater process of BenchmarkApplyTwoWriters.
type benchWriter struct {
	s *profile.Store
}

// batch applies ops as the updater does (Apply, the summaries of the
// customers evaluated, Commit) and returns the summary messages it
// publishes.
func (w *benchWriter) batch(b *testing.B, ops []profile.Op) []kafka.Message {
	ctx := context.Background()
	changes, _, err := w.s.Apply(ctx, benchT, ops)
	if err != nil {
		b.Error(err)
		return nil
	}
	customers := make([]string, len(ops))
	for i, op := range ops {
		customers[i] = op.Customer
	}
	sums, err := w.s.Summaries(ctx, customers)
	if err != nil {
		b.Error(err)
		return nil
	}
	if err := w.s.Commit(ctx, changes); err != nil {
		b.Error(err)
	}
	msgs := make([]kafka.Message, len(sums))
	for i, sum := range sums {
		if msgs[i], err = view.Message(sum, "/profile-updater", w.s.Prefix()); err != nil {
			b.Error(err)
		}
	}
	return msgs
}

// follow puts the summaries of msgs into w's population, as its follower
// does (view.Follower with Population).
func (w *benchWriter) follow(b *testing.B, msgs []kafka.Message) {
	for _, m := range msgs {
		sum, _, ok := view.PopulationOf(m)
		if !ok {
			b.Error("a summary message without its population header")
			return
		}
		w.s.Put(sum)
	}
}
