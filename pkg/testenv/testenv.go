// Package testenv starts the servers integration tests run against: a real
// redis-server on a free port and an in-process Kafka-protocol broker (kfake).
// Every package's integration tests use it, so they all see the same harness.
//
// When CI is set in the environment a redis-server binary is required; elsewhere
// the tests fall back to an embedded Redis (miniredis) if none is installed.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/stream"
)

// Redis is a Redis server started for one test.
type Redis struct {
	Addr string
	// Real tells whether this is a redis-server process rather than miniredis.
	Real bool
	cmd  *exec.Cmd
}

// StartRedis starts a Redis server that lives as long as the test.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required when CI is set: %v", err)
		}
		m := miniredis.RunT(t)
		return &Redis{Addr: m.Addr()}
	}
	r := &Redis{Addr: freeAddr(t), Real: true}
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	r.cmd.Dir = t.TempDir()
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", r.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// Stop kills the server, as a crash would. Only a real server can be stopped.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	if r.cmd == nil {
		t.Fatal("cannot stop an embedded Redis")
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// Client returns a client of the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// WaitTimers waits until the timers due at T in store (a profile store) have
// been applied by whoever runs them, the profile-updater or a replay.
func WaitTimers(t testing.TB, store interface {
	Backlog(ctx context.Context, T time.Time) (int64, error)
}, T time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := store.Backlog(context.Background(), T)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d timers due at %s were not applied: %v", n, T, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CustomerKeys returns Dump of a profile namespace's per-customer keys only,
// without the snapshot last published (which records when, not what): the
// shared slots (pkg/keys.Shared) — population {#rfm}, timers {#timers},
// replay progress {#replay}, segment index {#ix} — are left out. Two namespaces built from the same
// events compare equal by it.
func CustomerKeys(t testing.TB, rdb *redis.Client, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range Dump(t, rdb, ns, "derived", "dkey") {
		if !strings.HasPrefix(k, ":{#") {
			out[k] = v
		}
	}
	return out
}

// SameKeys reports where got differs from want, two results of Dump: the
// number of keys, and the first few keys whose content differs.
func SameKeys(t testing.TB, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	bad := 0
	for k, v := range want {
		if got[k] != v {
			if bad++; bad <= 5 {
				t.Errorf("key %s: %s\nwant %s", k, got[k], v)
			}
		}
	}
}

// Dump returns every key under prefix (without the prefix) with its content
// printed, for comparing whole states: hashes without the fields drop lists,
// sorted sets with their scores, sets sorted. Prefix "" dumps every key.
func Dump(t testing.TB, rdb *redis.Client, prefix string, drop ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	pattern := prefix + ":*"
	if prefix == "" {
		pattern = "*"
	}
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err != nil {
		t.Fatalf("list keys under %s: %v", prefix, err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		var v any
		switch rdb.Type(ctx, k).Val() {
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			for _, f := range drop {
				delete(h, f)
			}
			v = h
		case "zset":
			v = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			sort.Strings(m)
			v = m
		default:
			v = rdb.Get(ctx, k).Val()
		}
		out[strings.TrimPrefix(k, prefix)] = fmt.Sprint(v)
	}
	return out
}

// Kafka is an in-process Kafka-protocol cluster started for one test.
type Kafka struct {
	Cluster *kfake.Cluster
	Brokers []string
}

// StartKafka starts a one-broker cluster with segflow's topics (three
// partitions each) and any extra topics given.
func StartKafka(t testing.TB, extra ...stream.Topic) *Kafka {
	t.Helper()
	// A short minimum session timeout lets tests that kill consumers see the
	// group rebalance quickly.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	k := &Kafka{Cluster: c, Brokers: c.ListenAddrs()}
	topics := append(Topics(3), extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stream.EnsureTopics(ctx, k.Brokers, 1, topics...); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	return k
}

// Topics returns segflow's event and dead-letter topics with n partitions each.
func Topics(n int) []stream.Topic {
	var ts []stream.Topic
	for _, name := range append(event.Topics, event.TopicInvalid, event.TopicSummaries) {
		ts = append(ts, stream.Topic{Name: name, Partitions: n})
	}
	return ts
}

// ReadTopic reads every message of every partition of topic that is there
// within the timeout, waiting until at least want messages have arrived. It
// fails the test if fewer arrive.
func (k *Kafka) ReadTopic(t testing.TB, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", k.Brokers[0])
	if err != nil {
		t.Fatalf("dial kafka: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	var msgs []kafka.Message
	for {
		msgs = msgs[:0]
		for _, p := range parts {
			msgs = append(msgs, readPartition(ctx, t, k.Brokers, topic, p.ID)...)
		}
		if len(msgs) >= want || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(msgs) < want {
		t.Fatalf("topic %s: got %d messages, want at least %d", topic, len(msgs), want)
	}
	return msgs
}

func readPartition(ctx context.Context, t testing.TB, brokers []string, topic string, partition int) []kafka.Message {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil && ctx.Err() != nil {
		return nil // out of time: the caller reports how many messages came
	}
	if err != nil {
		t.Fatalf("dial leader of %s/%d: %v", topic, partition, err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatalf("offsets of %s/%d: %v", topic, partition, err)
	}
	if last <= first {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		t.Fatalf("seek %s/%d: %v", topic, partition, err)
	}
	var out []kafka.Message
	for int64(len(out)) < last-first {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, partition, err)
		}
		out = append(out, m)
	}
	return out
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
