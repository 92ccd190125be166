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
// applied as the updater applies them by one writer, then by two writers at
// once, each given the customers of its Kafka partitions (half the
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
	cpu0, redis0 := processCPU(b), redisStats(b, rdb)
	t0 := time.Now()
	one := &benchWriter{s: newBenchStore(b, rdb, "one")}
	for _, ops := range batches {
		one.follow(b, one.batch(b, ops))
	}
	alone := time.Since(t0)
	cpu1, redis1 := processCPU(b), redisStats(b, rdb)

	t0 = time.Now()
	writers := []*benchWriter{{s: newBenchStore(b, rdb, "two")}, {s: newBenchStore(b, rdb, "two")}}
	// Each writer follows the other's summaries as they come, as a
	// population follower reads the summaries topic.
	published := []chan []kafka.Message{make(chan []kafka.Message, b.N), make(chan []kafka.Message, b.N)}
	var wg sync.WaitGroup
	for w, wr := range writers {
		wg.Go(func() {
			other := published[1-w]
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
					default:
						more = false
					}
				}
			}
			for range 2*len(batches) - wr.followed {
				wr.follow(b, <-other)
			}
		})
	}
	wg.Wait()
	two := time.Since(t0)
	cpu2, redis2 := processCPU(b), redisStats(b, rdb)
	b.StopTimer()

	events := float64(b.N * benchBatch)
	oneCPU, twoCPU := float64((cpu1-cpu0).Microseconds())/events, float64((cpu2-cpu1).Microseconds())/events
	b.ReportMetric(events/alone.Seconds(), "one-writer-events/s")
	b.ReportMetric(events/two.Seconds(), "two-writers-events/s")
	b.ReportMetric(alone.Seconds()/two.Seconds(), "two-writers-speedup")
	b.ReportMetric(oneCPU, "one-writer-cpu-us/event")
	b.ReportMetric(twoCPU, "two-writers-cpu-us/event")
	b.ReportMetric(2*oneCPU/twoCPU, "two-writers-speedup-per-cpu")
	b.ReportMetric((redis1.cpu-redis0.cpu)/events, "one-writer-redis-cpu-us/event")
	b.ReportMetric((redis2.cpu-redis1.cpu)/events, "two-writers-redis-cpu-us/event")
	// Scores and tags depend on the population each writer saw (updaters
	// follow each other's summaries as they come), so the profiles are
	// compared by what the events made of them (CustomerKeys).
	if one, two := testenv.CustomerKeys(b, rdb, "one"), testenv.CustomerKeys(b, rdb, "two"); len(one) < benchCustomers || !maps.Equal(one, two) {
		b.Fatal("two writers left other profiles than one")
	}
}

// benchWriter is one updater process of BenchmarkApplyTwoWriters.
type benchWriter struct {
	s        *profile.Store
	followed int // batches of summary messages followed
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
	w.followed++
	for _, m := range msgs {
		sum, _, ok := view.PopulationOf(m)
		if !ok {
			b.Error("a summary message without its population header")
			return
		}
		w.s.Put(sum)
	}
}
