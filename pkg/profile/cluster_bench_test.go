package profile_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

// BenchmarkClusterBalance applies a typical year (see
// BenchmarkMemoryPerCustomer) of 10,000 fresh customers per iteration to a
// profile store on a 3-master Redis Cluster, in batches of 500 with their
// changes committed and indexed as the updater and the indexer do, and
// reports how evenly the masters share the work: each master's share of the
// keys, of the command time and script time Redis measured (INFO
// commandstats) and of its CPU time (INFO cpu), and for each figure the
// largest share over the mean share (1 is perfectly even; the aim is at most
// 1.5). The log names how many shards (pkg/keys.Shard) of the namespace's
// shared records each master holds: the segment index's (pkg/index, split
// by customer) and the timers'. No record of many customers sits in one
// slot: what is left unshared is each customer's own keys.
func BenchmarkClusterBalance(b *testing.B) {
	r := testenv.StartCluster(b)
	rdb := r.Client(b)
	ctx := context.Background()
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	before := nodeStats(b, rdb)
	events, n := 0, 0
	var elapsed time.Duration
	var prefix string
	for b.Loop() {
		prefix = fmt.Sprint("bal", n)
		s := profile.New(rdb, profile.Config{Prefix: prefix, Rules: rules})
		ix := index.New(rdb, prefix)
		customers := make([]string, benchCustomers)
		for i := range customers {
			customers[i] = fmt.Sprintf("b%d-c%05d", n, i)
		}
		ops := newBenchGen(b, uint64(n)).typicalYear(customers)
		t0 := time.Now()
		for i := 0; i < len(ops); i += benchBatch {
			changes, _, err := s.Apply(ctx, benchT, ops[i:min(i+benchBatch, len(ops))])
			if err != nil {
				b.Fatal(err)
			}
			if err := ix.Apply(ctx, changes); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(ctx, changes); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(t0)
		events += len(ops)
		n++
	}
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	after := nodeStats(b, rdb)
	hot := hotSlots(b, rdb, prefix)

	shares := func(f func(st nodeStat) float64) []float64 {
		out := make([]float64, len(after))
		total := 0.0
		for i := range after {
			out[i] = f(after[i]) - f(before[i])
			total += out[i]
		}
		for i := range out {
			out[i] /= total
		}
		return out
	}
	keys := shares(func(st nodeStat) float64 { return st.keys })
	cmd := shares(func(st nodeStat) float64 { return st.cmdUsec })
	script := shares(func(st nodeStat) float64 { return st.scriptUsec })
	cpu := shares(func(st nodeStat) float64 { return st.cpu })
	for i, st := range after {
		b.Logf("master %s: keys %.1f%%, command time %.1f%%, script time %.1f%%, cpu %.1f%%; shards %s",
			st.addr, 100*keys[i], 100*cmd[i], 100*script[i], 100*cpu[i], strings.Join(hot[st.addr], " "))
	}
	mean := 1 / float64(len(after))
	b.ReportMetric(slices.Max(keys)/mean, "max-keys/mean")
	b.ReportMetric(slices.Max(cmd)/mean, "max-cmd-time/mean")
	b.ReportMetric(slices.Max(script)/mean, "max-script-time/mean")
	b.ReportMetric(slices.Max(cpu)/mean, "max-cpu/mean")
}

// nodeStat is a master's key count and cumulative command, script and CPU
// time (µs).
type nodeStat struct {
	addr                           string
	keys, cmdUsec, scriptUsec, cpu float64
}

// nodeStats returns every master's figures, sorted by address.
func nodeStats(b *testing.B, rdb redis.UniversalClient) []nodeStat {
	b.Helper()
	var mu sync.Mutex
	var out []nodeStat
	err := keyspace.ForEachMaster(context.Background(), rdb, func(ctx context.Context, node redis.UniversalClient) error {
		c := node.(*redis.Client)
		info := benchInfo(b, c, "cpu", "commandstats", "keyspace")
		st := nodeStat{addr: c.Options().Addr}
		for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
			v, _ := strconv.ParseFloat(info[k], 64)
			st.cpu += v * 1e6
		}
		for k, v := range info {
			name, ok := strings.CutPrefix(k, "cmdstat_")
			if !ok {
				continue
			}
			for _, f := range strings.Split(v, ",") {
				if u, ok := strings.CutPrefix(f, "usec="); ok {
					n, _ := strconv.ParseFloat(u, 64)
					st.cmdUsec += n
					if name == "evalsha" || name == "eval" {
						st.scriptUsec += n
					}
				}
			}
		}
		// db0:keys=N,expires=...
		if db, ok := info["db0"]; ok {
			k, _, _ := strings.Cut(strings.TrimPrefix(db, "keys="), ",")
			st.keys, _ = strconv.ParseFloat(k, 64)
		}
		mu.Lock()
		out = append(out, st)
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(out, func(x, y nodeStat) int { return strings.Compare(x.addr, y.addr) })
	return out
}

// hotSlots returns, by master address, the shards of the shared records of
// the namespace prefix that it holds.
func hotSlots(b *testing.B, rdb redis.UniversalClient, prefix string) map[string][]string {
	b.Helper()
	out := map[string][]string{}
	cc := rdb.(*redis.ClusterClient)
	add := func(key, name string) {
		node, err := cc.MasterForKey(context.Background(), key)
		if err != nil {
			b.Fatal(err)
		}
		out[node.Options().Addr] = append(out[node.Options().Addr], name)
	}
	for i := range keys.Shards {
		add(keys.ShardN(prefix, "ix", i), "ix")
		add(keys.ShardN(prefix, "timers", i), "timers")
	}
	for addr, names := range out {
		out[addr] = compactCounts(names)
	}
	return out
}

// compactCounts turns repeated names into "name×n".
func compactCounts(names []string) []string {
	n := map[string]int{}
	var order []string
	for _, x := range names {
		if n[x] == 0 {
			order = append(order, x)
		}
		n[x]++
	}
	out := make([]string, len(order))
	for i, x := range order {
		out[i] = fmt.Sprintf("%s×%d", x, n[x])
	}
	return out
}
