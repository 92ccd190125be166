package profile_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/view"
)

// BenchmarkApplyTwoWriters measures how the updater scales out: the same
// events (the mix of BenchmarkApply over customers with a typical year) are
// applied as the updater applies them by one writer, and by two writers each
// given the customers of its Kafka partitions (half the customers, by the
// hash of their id) and its own cache and population, as two processes of
// one consumer group are. A writer does what an updater process does with a
// batch short of Kafka's reads and writes: Apply, the evaluated customers'
// summaries, Commit, the summaries encoded as the messages it publishes
// (updater), and, as its population follower does, every writer's summary
// messages decoded and put into its population, its own included (one
// process follows all summaries, however many there are: the part that does
// not scale out). Each writer takes its events in batches of benchBatch, as
// a consumer behind the head of its partitions fetches them, so two writers
// take the events one takes in half as many batches each.
//
// Two processes on machines of their own are measured one after the other
// on this one, in rounds of benchRound batches (one writer, then each of the
// two, then each following the other's summaries of the round), so that
// neither's CPU time is swollen by the other's contending for the same cores
// and Redis, and the machine's drifts in speed weigh on all alike. It reports
// the process's CPU per event of one writer and of the two together
// (two-writers-cpu-us/event: both writers' CPU over the events; the garbage
// collector's CPU shared out by the heap each allocated), and
// two-writers-speedup-per-cpu, 2 × one's CPU per event / the two's: the rate
// of two processes with the cores one has, as long as Redis keeps up (its
// CPU per event with two writers is reported too); two-writers-speedup is
// the same in wall time, one writer's time over the slower of the two's. It
// fails if the two writers leave other profiles than one.
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
	one := &benchWriter{s: newBenchStore(b, rdb, "one")}
	writers := []*benchWriter{{s: newBenchStore(b, rdb, "two")}, {s: newBenchStore(b, rdb, "two")}}
	// Each process loads its population from Redis once, when it starts:
	// not a cost of the events it applies.
	for _, w := range append([]*benchWriter{one}, writers...) {
		if _, err := w.s.Population(context.Background()); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	// Of one writer (0) and each of the two (1, 2): time, CPU less the
	// garbage collector's, the collector's, heap allocated, Redis's CPU.
	var ph [3]phase
	measure := func(p *phase, fn func()) {
		cpu0, gc0, alloc0, redis0, t0 := processCPU(b), gcCPU(), heapAllocs(), redisStats(b, rdb), time.Now()
		fn()
		p.wall += time.Since(t0)
		gc := gcCPU() - gc0
		p.mutator += (processCPU(b) - cpu0).Seconds() - gc
		p.gc += gc
		p.alloc += heapAllocs().minus(alloc0).bytes
		p.redis += redisStats(b, rdb).cpu - redis0.cpu
	}
	for lo := 0; lo < len(batches); lo += benchRound {
		round := batches[lo:min(lo+benchRound, len(batches))]
		measure(&ph[0], func() {
			for _, ops := range round {
				one.follow(b, one.batch(b, ops))
			}
		})
		own := byWriter(round, len(writers))
		published := make([][][]kafka.Message, len(writers))
		for w, wr := range writers {
			measure(&ph[1+w], func() {
				for _, ops := range own[w] {
					msgs := wr.batch(b, ops)
					wr.follow(b, msgs)
					published[w] = append(published[w], msgs)
				}
			})
		}
		for w, wr := range writers {
			measure(&ph[1+w], func() {
				for _, msgs := range published[1-w] {
					wr.follow(b, msgs)
				}
			})
		}
	}
	b.StopTimer()

	// The collector's CPU, which falls in whichever phase a cycle ends, is
	// shared out by the heap each phase allocated: cycles come of
	// allocation.
	var gc float64
	var alloc uint64
	for _, p := range ph {
		gc, alloc = gc+p.gc, alloc+p.alloc
	}
	cpu := func(p phase) float64 { return p.mutator + gc*float64(p.alloc)/float64(alloc) }
	events := float64(b.N * benchBatch)
	oneCPU, twoCPU := cpu(ph[0]), cpu(ph[1])+cpu(ph[2])
	b.ReportMetric(events/ph[0].wall.Seconds(), "one-writer-events/s")
	b.ReportMetric(ph[0].wall.Seconds()/max(ph[1].wall, ph[2].wall).Seconds(), "two-writers-speedup")
	b.ReportMetric(oneCPU*1e6/events, "one-writer-cpu-us/event")
	b.ReportMetric(twoCPU*1e6/events, "two-writers-cpu-us/event")
	b.ReportMetric(2*oneCPU/twoCPU, "two-writers-speedup-per-cpu")
	b.ReportMetric(ph[0].redis/events, "one-writer-redis-cpu-us/event")
	b.ReportMetric((ph[1].redis+ph[2].redis)/events, "two-writers-redis-cpu-us/event")
	// Scores and tags depend on the population each writer saw (updaters
	// follow each other's summaries as they come), so the profiles are
	// compared by what the events made of them (CustomerKeys).
	if one, two := testenv.CustomerKeys(b, rdb, "one"), testenv.CustomerKeys(b, rdb, "two"); len(one) < benchCustomers || !maps.Equal(one, two) {
		b.Fatal("two writers left other profiles than one")
	}
}

// phase is what BenchmarkApplyTwoWriters measured of a writer: time, the
// process's CPU less its garbage collector's (seconds), the collector's,
// heap bytes allocated, and Redis's CPU (µs).
type phase struct {
	wall        time.Duration
	mutator, gc float64
	alloc       uint64
	redis       float64
}

// benchRound is how many batches BenchmarkApplyTwoWriters takes at once
// by one writer, then by two.
const benchRound = 50

// byWriter returns the events of batches of each of n writers, those of
// the customers of its partitions, in batches of up to benchBatch.
func byWriter(batches [][]profile.Op, n int) [][][]profile.Op {
	own := make([][][]profile.Op, n)
	for w := range own {
		var mine []profile.Op
		for _, ops := range batches {
			for _, op := range ops {
				if keys.ShardOf(op.Customer)%n == w {
					mine = append(mine, op)
				}
			}
		}
		for len(mine) > 0 {
			k := min(benchBatch, len(mine))
			own[w], mine = append(own[w], mine[:k:k]), mine[k:]
		}
	}
	return own
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
