package profile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

const (
	benchBatch = 500   // ops per Apply, the updater's default batch size
	benchSKUs  = 2_000 // catalogue size
	benchCats  = 40    // categories
)

// benchCustomers is how many customers the events are spread over: 10,000,
// or SEGFLOW_BENCH_CUSTOMERS (such as 1000000 for the figures at 1M).
var benchCustomers = func() int {
	if n, err := strconv.Atoi(os.Getenv("SEGFLOW_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}()

// benchT is T of every Apply; event times are in the year before it.
var benchT = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ceilingScript is the cheapest script an event could be applied by: one
// write to a hash and one to a sorted set of its customer.
var ceilingScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
`)

// BenchmarkApply measures events/s through Store.Apply, 500 ops per call, of a
// mix of 60% product views, 20% cart adds, 15% orders and 5% identifies spread
// uniformly over 10,000 customers and a year, with the default tag rules. The
// customers start with a typical year each (see BenchmarkMemoryPerCustomer),
// applied before timing, so that their state has the size it has in steady
// operation; each batch's changes are committed, untimed, as the updater does.
//
// Three ceilings are measured in the same run, each on its own copy of the
// customers (keys copied under another prefix):
//   - same commands: the exact commands Apply sent (its scripts with the same
//     arguments, and its reads), recorded on one copy and replayed on another
//     in the same pipelines with nothing done between them — what Redis does
//     with segflow's work when the client costs nothing;
//   - apply script alone: Store.Write, the same writes without evaluation;
//   - raw: one pipeline of 500 EVALSHAs per batch, each a script doing one
//     HSET and one ZADD on the customer's keys — the cheapest an event could
//     be applied. It is measured batch by batch, each batch just before
//     Apply takes the same events, so that the updater's ratio to it
//     compares the two under the same load of the machine.
//
// It reports the rates, Apply's ratio to each, and per event the Redis
// server's CPU time and script execution time (INFO cpu, INFO commandstats)
// and the CPU time of this process in the timed loop (updater-cpu-us/event:
// the updater's, its garbage collection's included), and the snapshot
// changes an event makes (changes/event: each is published, and committed).
// SEGFLOW_BENCH_RULES=none runs it without tag rules (see benchRules).
// An op (ns/op) is one Apply of 500 events.
func BenchmarkApply(b *testing.B) {
	rdb := benchRedis(b)
	ctx := context.Background()
	g := newBenchGen(b, uint64(b.N))
	customers := make([]string, benchCustomers)
	for i := range customers {
		customers[i] = fmt.Sprintf("c%07d", i)
	}
	s := newBenchStore(b, rdb, "sf")
	benchApply(b, s, g.typicalYear(customers))
	for _, prefix := range []string{"rec", "rep", "wr"} {
		copyPrefix(b, rdb, "sf", prefix)
	}
	batches := make([][]profile.Op, b.N)
	for i := range batches {
		batches[i] = g.mixed(benchBatch)
	}

	if err := ceilingScript.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}

	// Same-commands ceiling: record Apply's pipelines on one copy, replay
	// them on another.
	rec := &recorder{on: true}
	recClient := redis.NewClient(rdb.Options())
	defer recClient.Close()
	recClient.AddHook(rec)
	r := newBenchStore(b, recClient, "rec")
	for _, ops := range batches {
		changes, _, err := r.Apply(ctx, benchT, ops)
		if err != nil {
			b.Fatal(err)
		}
		rec.record(false)
		if err := r.Commit(ctx, changes); err != nil {
			b.Fatal(err)
		}
		rec.record(true)
	}
	replay0 := redisStats(b, rdb)
	t0 := time.Now()
	for _, cmds := range rec.pipelines {
		pipe := rdb.Pipeline()
		for _, args := range cmds {
			pipe.Do(ctx, rename(args, "rec:", "rep:")...)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			b.Fatal(err)
		}
	}
	same := time.Since(t0)
	replayStats := redisStats(b, rdb)

	// Apply script ceiling.
	w := newBenchStore(b, rdb, "wr")
	w0 := redisStats(b, rdb)
	t0 = time.Now()
	for _, ops := range batches {
		if _, err := w.Write(ctx, benchT, ops); err != nil {
			b.Fatal(err)
		}
	}
	writeOnly := time.Since(t0)
	mid := redisStats(b, rdb)

	// Apply is timed alone (events/s) and with what the updater does after
	// it (updater-events/s): the evaluated customers' summaries and the
	// Commit of the published snapshots. Redis CPU counts all three.
	//
	// The raw ceiling is measured batch by batch just before the updater's
	// batch, so that both see the machine as it is at that moment: this
	// machine's speed drifts by tens of percent within a minute, which
	// ratios of runs minutes apart take for a change of design. The
	// garbage collector is held off while the raw ceiling runs (the
	// updater's allocations would start it there), so that the updater's
	// collections are counted in the updater's time.
	var raw, elapsed, updater, cpu time.Duration
	var allocs allocated
	var rawStats, stats serverStats
	nchanges := 0
	gcPercent := debug.SetGCPercent(-1) // the setting (GOGC), to restore
	debug.SetGCPercent(gcPercent)
	gc0 := gcCPU()
	b.ResetTimer()
	for _, ops := range batches {
		b.StopTimer()
		debug.SetGCPercent(-1) // and waits for a collection under way to end
		r0 := redisStats(b, rdb)
		t0 := time.Now()
		if err := ceiling(ctx, rdb, ops); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
		r1 := redisStats(b, rdb)
		rawStats = rawStats.plus(r1.minus(r0))
		debug.SetGCPercent(gcPercent)
		cpu0, alloc0 := processCPU(b), heapAllocs()
		b.StartTimer()
		// The updater's part is labelled (timed=apply), goroutines it
		// starts too, so that a -cpuprofile can be read for it alone
		// (pprof -tagfocus).
		pprof.Do(ctx, pprof.Labels("timed", "apply"), func(ctx context.Context) {
			t0 = time.Now()
			changes, _, err := s.Apply(ctx, benchT, ops)
			elapsed += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			nchanges += len(changes)
			customers := make([]string, len(ops))
			for i, op := range ops {
				customers[i] = op.Customer
			}
			// Each once, as the updater asks for them (updater.summaries).
			slices.Sort(customers)
			customers = slices.Compact(customers)
			if _, err := s.Summaries(ctx, customers); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(ctx, changes); err != nil {
				b.Fatal(err)
			}
			updater += time.Since(t0)
		})
		b.StopTimer()
		cpu += processCPU(b) - cpu0
		allocs = allocs.plus(heapAllocs().minus(alloc0))
		stats = stats.plus(redisStats(b, rdb).minus(r1))
		b.StartTimer()
	}
	b.StopTimer()

	events := float64(b.N * benchBatch)
	// The collector's CPU in the timed loop, its share of updater-cpu:
	// the raw ceiling runs with it held off.
	b.ReportMetric((gcCPU()-gc0)*1e6/events, "updater-gc-cpu-us/event")
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(nchanges)/events, "changes/event")
	b.ReportMetric(events/updater.Seconds(), "updater-events/s")
	b.ReportMetric(raw.Seconds()/updater.Seconds(), "updater-ratio-to-raw-ceiling")
	b.ReportMetric(events/same.Seconds(), "same-commands-ceiling-events/s")
	b.ReportMetric(same.Seconds()/elapsed.Seconds(), "ratio-to-same-commands")
	b.ReportMetric(events/writeOnly.Seconds(), "script-ceiling-events/s")
	b.ReportMetric(writeOnly.Seconds()/elapsed.Seconds(), "ratio-to-script-ceiling")
	b.ReportMetric(events/raw.Seconds(), "raw-ceiling-events/s")
	b.ReportMetric(raw.Seconds()/elapsed.Seconds(), "ratio-to-raw-ceiling")
	b.ReportMetric(stats.cpu/events, "redis-cpu-us/event")
	b.ReportMetric(float64(cpu.Microseconds())/events, "updater-cpu-us/event")
	b.ReportMetric(float64(allocs.bytes)/events, "updater-heap-bytes/event")
	b.ReportMetric(float64(allocs.objects)/events, "updater-heap-objects/event")
	b.ReportMetric((replayStats.cpu-replay0.cpu)/events, "same-commands-redis-cpu-us/event")
	b.ReportMetric((mid.cpu-w0.cpu)/events, "script-ceiling-redis-cpu-us/event")
	b.ReportMetric(rawStats.cpu/events, "raw-ceiling-redis-cpu-us/event")
	b.ReportMetric(stats.scriptUsec/events, "redis-script-us/event")
	// What scripts cost beyond the commands they run: Lua, and moving each
	// record's value from the request into Lua and from Lua into Redis.
	b.ReportMetric((stats.scriptUsec-stats.scriptCmdUsec)/events, "redis-script-lua-us/event")
}

// recorder is a go-redis hook that records the arguments of every pipeline
// sent while on.
type recorder struct {
	mu        sync.Mutex
	on        bool
	pipelines [][][]any
}

func (r *recorder) record(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.mu.Lock()
		// Connection set-up (HELLO, CLIENT SETINFO) is not Apply's work.
		if r.on && cmds[0].Name() != "hello" && cmds[0].Name() != "client" {
			p := make([][]any, len(cmds))
			for i, c := range cmds {
				p[i] = slices.Clone(c.Args())
			}
			r.pipelines = append(r.pipelines, p)
		}
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

// rename replaces the prefix from with to in the arguments that are keys.
func rename(args []any, from, to string) []any {
	out := slices.Clone(args)
	for i, a := range out {
		if s, ok := a.(string); ok && strings.HasPrefix(s, from) {
			out[i] = to + s[len(from):]
		}
	}
	return out
}

// copyPrefix copies every key under from: to the same name under to:.
func copyPrefix(b *testing.B, rdb *redis.Client, from, to string) {
	b.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, from+":*", 1000).Iterator()
	pipe := rdb.Pipeline()
	for iter.Next(ctx) {
		k := iter.Val()
		pipe.Copy(ctx, k, to+k[len(from):], 0, true)
		if pipe.Len() >= 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
}

// benchApply applies ops in batches of benchBatch and commits their changes,
// as the updater does.
func benchApply(b *testing.B, s *profile.Store, ops []profile.Op) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < len(ops); i += benchBatch {
		changes, _, err := s.Apply(ctx, benchT, ops[i:min(i+benchBatch, len(ops))])
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(ctx, changes); err != nil {
			b.Fatal(err)
		}
	}
}

// ceiling sends ops the cheapest way: one round trip, one small script each.
func ceiling(ctx context.Context, rdb *redis.Client, ops []profile.Op) error {
	pipe := rdb.Pipeline()
	for _, op := range ops {
		k := "ceil:{" + op.Customer + "}:"
		ceilingScript.EvalSha(ctx, pipe, []string{k + "p", k + "h"}, op.Time.UnixMilli(), op.CauseID)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// BenchmarkMemoryPerCustomer applies a typical year — 5 product views, 2 cart
// adds, 3 orders and an identify — to each of 10,000 fresh customers, in
// batches of 500 in shuffled order with their changes committed, and reports
// the Redis memory (INFO used_memory) and keys this adds per customer, the
// length of the customer's record (record-bytes: everything the customer
// is, population entry and published snapshot included) and the timers'
// share (MEMORY USAGE of their shards); the Go heap a process's
// population takes (population-heap-bytes, loaded from Redis); and the
// heap the writer holds after applying, less that population
// (writer-cache-heap-bytes: its cache of records, Config.Cache, with their
// tag memos).
// Each iteration uses a new key prefix, so its customers and population are
// fresh.
func BenchmarkMemoryPerCustomer(b *testing.B) {
	rdb := benchRedis(b)
	ctx := context.Background()
	var bytes, nkeys, rec, timers, heap, writer float64
	n := 0
	for b.Loop() {
		prefix := fmt.Sprint("mem", n)
		customers := make([]string, benchCustomers)
		for i := range customers {
			customers[i] = fmt.Sprintf("m%d-c%05d", n, i)
		}
		ops := newBenchGen(b, uint64(n)).typicalYear(customers)
		usedBefore, keysBefore := usedMemory(b, rdb), rdb.DBSize(ctx).Val()
		var w0, w1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&w0)
		s := newBenchStore(b, rdb, prefix)
		benchApply(b, s, ops)
		runtime.GC()
		runtime.ReadMemStats(&w1)
		writer += float64(w1.HeapAlloc) - float64(w0.HeapAlloc)
		runtime.KeepAlive(s)
		bytes += float64(usedMemory(b, rdb) - usedBefore)
		nkeys += float64(rdb.DBSize(ctx).Val() - keysBefore)
		for _, c := range customers {
			rec += float64(rdb.StrLen(ctx, prefix+":{"+c+"}:r").Val())
		}
		for i := range keys.Shards {
			timers += float64(memoryUsage(b, rdb, keys.ShardN(prefix, "timers", i)+":due"))
		}
		// The population in memory, as a process loads it from Redis.
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		fresh := newBenchStore(b, rdb, prefix)
		if _, err := fresh.Population(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap += float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
		runtime.KeepAlive(fresh)
		n++
	}
	total := float64(n * benchCustomers)
	b.ReportMetric(bytes/total, "bytes/customer")
	b.ReportMetric(nkeys/total, "keys/customer")
	b.ReportMetric(rec/total, "record-bytes/customer")
	b.ReportMetric(timers/total, "timer-bytes/customer")
	b.ReportMetric(heap/total, "population-heap-bytes/customer")
	// The writer's heap less its population: the records it keeps
	// (Config.Cache) with their tag memos.
	b.ReportMetric((writer-heap)/total, "writer-cache-heap-bytes/customer")
}

// benchRedis returns a client of a real redis-server; figures from the
// embedded miniredis would mean nothing.
func benchRedis(b *testing.B) *redis.Client {
	b.Helper()
	r := testenv.StartNode(b)
	if !r.Real {
		b.Skip("benchmarks need a real redis-server")
	}
	return r.Client(b).(*redis.Client)
}

// benchRules tells whether the stores of the benchmarks evaluate the
// default tag rules: yes, unless SEGFLOW_BENCH_RULES is "none", which shows
// what the rules and the changes their tags make cost.
var benchRules = os.Getenv("SEGFLOW_BENCH_RULES") != "none"

func newBenchStore(b *testing.B, rdb *redis.Client, prefix string) *profile.Store {
	b.Helper()
	if !benchRules {
		return profile.New(rdb, profile.Config{Prefix: prefix})
	}
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	return profile.New(rdb, profile.Config{Prefix: prefix, Rules: rules})
}

// benchGen makes events as a store's producers would send them, decoded into
// ops as the updater does. Event and order ids are unique within a generator;
// customers, products and times are drawn from a seeded source.
type benchGen struct {
	b    *testing.B
	rng  *rand.Rand
	run  string
	next int
}

func newBenchGen(b *testing.B, seed uint64) *benchGen {
	return &benchGen{b: b, rng: rand.New(rand.NewPCG(seed, 42)), run: strconv.FormatUint(seed, 36)}
}

// mixed returns n events of the benchmark mix, each of a random customer.
func (g *benchGen) mixed(n int) []profile.Op {
	ops := make([]profile.Op, n)
	for i := range ops {
		c := fmt.Sprintf("c%07d", g.rng.IntN(benchCustomers))
		switch r := g.rng.IntN(100); {
		case r < 60:
			ops[i] = g.view(c)
		case r < 80:
			ops[i] = g.cartAdd(c)
		case r < 95:
			ops[i] = g.order(c)
		default:
			ops[i] = g.identify(c)
		}
	}
	return ops
}

// typicalYear returns, shuffled, 5 views, 2 cart adds, 3 orders and an
// identify for each customer.
func (g *benchGen) typicalYear(customers []string) []profile.Op {
	ops := make([]profile.Op, 0, 11*len(customers))
	for _, c := range customers {
		for range 5 {
			ops = append(ops, g.view(c))
		}
		ops = append(ops, g.cartAdd(c), g.cartAdd(c))
		ops = append(ops, g.order(c), g.order(c), g.order(c))
		ops = append(ops, g.identify(c))
	}
	g.rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	return ops
}

func (g *benchGen) sku() (sku, category string) {
	n := g.rng.IntN(benchSKUs)
	return fmt.Sprintf("SKU-%04d", n), fmt.Sprintf("cat-%02d", n%benchCats)
}

func (g *benchGen) price() string {
	return fmt.Sprintf("%d.%02d", 5+g.rng.IntN(195), g.rng.IntN(100))
}

func (g *benchGen) view(c string) profile.Op {
	sku, cat := g.sku()
	return g.op(event.ProductViewed, c, fmt.Sprintf(`{"user_id":%q,"product":{"sku":%q,"category":%q}}`, c, sku, cat))
}

func (g *benchGen) cartAdd(c string) profile.Op {
	sku, cat := g.sku()
	return g.op(event.ProductAdded, c, fmt.Sprintf(`{"user_id":%q,"product":{"sku":%q,"category":%q,"price":%q},"quantity":%d}`,
		c, sku, cat, g.price(), 1+g.rng.IntN(2)))
}

func (g *benchGen) order(c string) profile.Op {
	items := make([]string, 1+g.rng.IntN(3))
	for i := range items {
		sku, cat := g.sku()
		items[i] = fmt.Sprintf(`{"sku":%q,"category":%q}`, sku, cat)
	}
	return g.op(event.OrderCompleted, c, fmt.Sprintf(`{"user_id":%q,"order_id":"o-%s-%d","total":%q,"currency":"USD","items":[%s]}`,
		c, g.run, g.next, g.price(), strings.Join(items, ",")))
}

func (g *benchGen) identify(c string) profile.Op {
	return g.op(event.Identify, c, fmt.Sprintf(`{"user_id":%q,"traits":{"email":"%s@example.com","timezone":"Asia/Taipei"},"consent":{"email":%t}}`,
		c, c, g.rng.IntN(2) == 0))
}

// op makes the CloudEvent, at a random time in the year before benchT, and
// decodes it.
func (g *benchGen) op(typ, customer, data string) profile.Op {
	g.next++
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("ev-%s-%d", g.run, g.next))
	e.SetSource("/bench")
	e.SetType(typ)
	e.SetTime(benchT.Add(-time.Duration(g.rng.Int64N(int64(365 * 24 * time.Hour)))))
	e.SetExtension(event.ExtPartitionKey, customer)
	if err := e.SetData(cloudevents.ApplicationJSON, json.RawMessage(data)); err != nil {
		g.b.Fatal(err)
	}
	op, err := profile.OpOf(e, "USD")
	if err != nil {
		g.b.Fatal(err)
	}
	return op
}

// serverStats are Redis's cumulative CPU time, script execution time and
// the time of the commands scripts run (GETRANGE and SET: casScript's, the
// only script of the updater's path), in µs.
type serverStats struct{ cpu, scriptUsec, scriptCmdUsec float64 }

func (s serverStats) minus(o serverStats) serverStats {
	return serverStats{s.cpu - o.cpu, s.scriptUsec - o.scriptUsec, s.scriptCmdUsec - o.scriptCmdUsec}
}

func (s serverStats) plus(o serverStats) serverStats {
	return serverStats{s.cpu + o.cpu, s.scriptUsec + o.scriptUsec, s.scriptCmdUsec + o.scriptCmdUsec}
}

func redisStats(b *testing.B, rdb *redis.Client) serverStats {
	b.Helper()
	info := benchInfo(b, rdb, "cpu", "commandstats")
	var st serverStats
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := strconv.ParseFloat(info[k], 64)
		st.cpu += v * 1e6
	}
	usec := func(k string) float64 {
		for _, f := range strings.Split(info[k], ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		return 0
	}
	st.scriptUsec = usec("cmdstat_evalsha") + usec("cmdstat_eval")
	st.scriptCmdUsec = usec("cmdstat_getrange") + usec("cmdstat_set")
	return st
}

// processCPU is the CPU time this process has used, its garbage
// collector's included.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// gcCPU is the CPU time, in seconds, the garbage collector has used so far
// as the runtime accounts it (/cpu/classes/gc/total: updated as each cycle
// ends).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

// allocated is what the process allocated on the heap: bytes and objects.
type allocated struct{ bytes, objects uint64 }

func (a allocated) plus(o allocated) allocated {
	return allocated{a.bytes + o.bytes, a.objects + o.objects}
}
func (a allocated) minus(o allocated) allocated {
	return allocated{a.bytes - o.bytes, a.objects - o.objects}
}

// heapAllocs is what the process allocated on the heap so far, read
// without stopping the world.
func heapAllocs() allocated {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return allocated{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// usedMemory is the memory Redis holds for its data: INFO's used_memory
// less the clients' buffers (mem_clients_normal), which belong to the
// connections (a writer's pipelines leave query buffers behind for a while)
// and not to the keys.
func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info := benchInfo(b, rdb, "memory")
	n, err := strconv.ParseInt(info["used_memory"], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	clients, err := strconv.ParseInt(info["mem_clients_normal"], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n - clients
}

func memoryUsage(b *testing.B, rdb *redis.Client, key string) int64 {
	b.Helper()
	n, err := rdb.MemoryUsage(context.Background(), key, 0).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		b.Fatal(err)
	}
	return n
}

// benchInfo returns the fields of INFO sections.
func benchInfo(b *testing.B, rdb *redis.Client, sections ...string) map[string]string {
	b.Helper()
	s, err := rdb.Info(context.Background(), sections...).Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}
