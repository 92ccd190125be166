// Package testenv starts the servers integration tests run against: a real
// redis-server on a free port — or a 3-master Redis Cluster of them, when
// SEGFLOW_TEST_REDIS=cluster — and an in-process Kafka-protocol broker
// (kfake). Every package's integration tests use it, so they all see the
// same harness.
//
// When CI is set in the environment a redis-server binary is required; elsewhere
// the tests fall back to an embedded Redis (miniredis) if none is installed.
package testenv

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// Redis is a Redis server, or a Redis Cluster, started for one test.
type Redis struct {
	// Addr is the server's host:port; of a cluster, its masters' addresses
	// comma-separated, as segflow's --redis-addr takes them.
	Addr string
	// Real tells whether this is redis-server rather than miniredis.
	Real bool
	// Cluster tells whether this is a Redis Cluster.
	Cluster bool
	servers []*server
}

// server is a redis-server process; exited is closed once it has exited.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// kill kills the process and waits until it has exited.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// EnvRedis names the environment variable that chooses what StartRedis
// starts: "cluster" for a 3-master Redis Cluster (StartCluster), anything
// else for one server (StartNode). CI runs the e2e tests with both.
const EnvRedis = "SEGFLOW_TEST_REDIS"

// StartRedis starts a Redis that lives as long as the test: one server, or
// a 3-master cluster when SEGFLOW_TEST_REDIS=cluster. Tests that hold for
// both use it, with Client's redis.UniversalClient.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if os.Getenv(EnvRedis) == "cluster" {
		return StartCluster(t)
	}
	return StartNode(t)
}

// StartNode starts one Redis server, whatever SEGFLOW_TEST_REDIS says, for
// tests and benchmarks about one server (its INFO, its memory).
func StartNode(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required when CI is set: %v", err)
		}
		m := miniredis.RunT(t)
		return &Redis{Addr: m.Addr()}
	}
	r := &Redis{Real: true}
	r.Addr, _ = r.start(t, bin, false, RedisSecurity{})
	return r
}

// RedisSecurity is how StartSecureNode secures a server.
type RedisSecurity struct {
	// CA, if set, makes the server take TLS connections only, with a
	// certificate the CA issued; it verifies client certificates the CA
	// issued, and requires one only with ClientCerts.
	CA          *CA
	ClientCerts bool
	// Users are ACL rules, as redis.conf's user directive takes them:
	// "alice on >secret ~* &* +@all"; "default off" makes every client log
	// in as a user.
	Users []string
}

// StartSecureNode starts one redis-server secured as sec says. It skips the
// test if there is no redis-server binary, unless CI is set.
func StartSecureNode(t testing.TB, sec RedisSecurity) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required when CI is set: %v", err)
		}
		t.Skipf("TLS and ACL users need redis-server: %v", err)
	}
	r := &Redis{Real: true}
	r.Addr, _ = r.start(t, bin, false, sec)
	return r
}

// clusterMasters is how many masters StartCluster starts.
const clusterMasters = 3

// StartCluster starts a Redis Cluster of three masters (redis-server
// processes in cluster mode, no replicas) holding every slot, and waits
// until every node reports the cluster ok. Without a redis-server binary
// it skips the test, unless CI is set.
func StartCluster(t testing.TB) *Redis {
	t.Helper()
	return StartSecureCluster(t, RedisSecurity{})
}

// StartSecureCluster starts a cluster as StartCluster does, each node
// secured as sec says. With a CA the nodes take TLS connections only, and
// speak TLS to each other on the cluster bus too (tls-cluster), so that the
// cluster announces its nodes' TLS ports to clients. The ACL users are set
// once the cluster is ok: "default off" would lock the harness out of the
// commands that build it.
func StartSecureCluster(t testing.TB, sec RedisSecurity) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("a Redis Cluster needs redis-server: %v", err)
		}
		// No embedded cluster exists; the tests ran on the embedded server.
		t.Skipf("a Redis Cluster needs redis-server: %v", err)
	}
	if sec.CA == nil && len(sec.Users) == 0 {
		if r := spareCluster(t, bin); r != nil {
			return r
		}
	}
	r := &Redis{Real: true, Cluster: true}
	// Each node's cluster bus on a free port of its own: the default, port
	// + 10000, may be taken or out of range.
	nodeSec := sec
	nodeSec.Users = nil
	var addrs, buses []string
	for range clusterMasters {
		addr, bus := r.start(t, bin, true, nodeSec)
		addrs, buses = append(addrs, addr), append(buses, bus)
	}
	r.Addr = strings.Join(addrs, ",")
	admin := sec.adminTLS(t)
	if err := formCluster(addrs, buses, admin); err != nil {
		t.Fatal(err)
	}
	// Every node its users; the default user's rules last, as the harness
	// is logged in as it and "default off" may end its connection.
	var users, defaults []string
	for _, u := range sec.Users {
		if strings.HasPrefix(u, "default ") {
			defaults = append(defaults, u)
		} else {
			users = append(users, u)
		}
	}
	rules := append(users, defaults...)
	ctx := context.Background()
	for _, a := range addrs {
		n := redis.NewClient(&redis.Options{Addr: a, TLSConfig: admin})
		defer n.Close()
		for _, u := range rules {
			args := []any{"ACL", "SETUSER"}
			for _, w := range strings.Fields(u) {
				args = append(args, w)
			}
			if err := n.Do(ctx, args...).Err(); err != nil {
				t.Fatalf("set user %s on %s: %v", strings.Fields(u)[0], a, err)
			}
		}
	}
	return r
}

// formCluster makes the nodes at addrs (cluster buses on buses) one cluster
// holding every slot, and waits until every node reports it ok.
func formCluster(addrs, buses []string, admin *tls.Config) error {
	ctx := context.Background()
	nodes := make([]*redis.Client, len(addrs))
	for i, a := range addrs {
		nodes[i] = redis.NewClient(&redis.Options{Addr: a, TLSConfig: admin})
		defer nodes[i].Close()
	}
	// Slots split evenly, as redis-cli --cluster create splits them; each
	// node its own config epoch, so none has to be resolved.
	for i, n := range nodes {
		from, to := i*16384/len(nodes), (i+1)*16384/len(nodes)-1
		if err := n.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", from, to).Err(); err != nil {
			return fmt.Errorf("assign slots %d-%d to %s: %w", from, to, addrs[i], err)
		}
		if err := n.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("set config epoch of %s: %w", addrs[i], err)
		}
	}
	for i, a := range addrs[1:] {
		host, p, _ := net.SplitHostPort(a)
		if err := nodes[0].Do(ctx, "CLUSTER", "MEET", host, p, buses[i+1]).Err(); err != nil {
			return fmt.Errorf("cluster meet %s: %w", a, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			info, err := n.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(nodes))) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster %s is not ok: %s %v", strings.Join(addrs, ","), info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// adminTLS returns the TLS configuration the harness connects to a server
// secured by sec with, nil for a plaintext one: it trusts the CA and shows
// a certificate the CA issued, which a server that requires one takes.
func (sec RedisSecurity) adminTLS(t testing.TB) *tls.Config {
	if sec.CA == nil {
		return nil
	}
	c := sec.CA.ClientTLS()
	c.Certificates = []tls.Certificate{sec.CA.Issue(t, "testenv").TLS}
	return c
}

// start starts a redis-server (a cluster node, with its cluster bus on a
// port of its own) in a directory of its own, stopped when the test ends,
// waits until it answers, and returns its address and bus port.
func (r *Redis) start(t testing.TB, bin string, cluster bool, sec RedisSecurity) (addr, bus string) {
	t.Helper()
	var args []string
	if sec.CA != nil {
		cert := sec.CA.Issue(t, "redis")
		args = append(args, "--port", "0", "--tls-cert-file", cert.CertFile, "--tls-key-file", cert.KeyFile,
			"--tls-ca-cert-file", sec.CA.File, "--tls-auth-clients", "optional")
		if sec.ClientCerts {
			args = append(args, "--tls-auth-clients", "yes")
		}
		if cluster {
			// The cluster bus in TLS too, with the same certificate,
			// server and client alike.
			args = append(args, "--tls-cluster", "yes")
		}
	}
	for _, u := range sec.Users {
		// One argument per word: redis-server quotes an argument with
		// spaces into one word.
		args = append(append(args, "--user"), strings.Fields(u)...)
	}
	s, addr, bus, err := launch(bin, t.TempDir(), cluster, sec.CA != nil, args, sec.adminTLS(t), nil)
	if s != nil {
		t.Cleanup(s.kill)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.servers = append(r.servers, s)
	return addr, bus
}

// launch starts a redis-server in dir with args more, on a free port (its
// TLS port, with useTLS), and waits until it answers (probing with the TLS
// configuration probe). A free port may be taken by another process before
// the server binds it (tests of other packages run at once): a server that
// exits at start is started again on other ports. start, if set, starts
// the command instead of its Start. It returns the server it started last,
// which the caller stops, even with an error.
func launch(bin, dir string, cluster, useTLS bool, more []string, probe *tls.Config, start func(*exec.Cmd) error) (s *server, addr, bus string, err error) {
	if start == nil {
		start = (*exec.Cmd).Start
	}
	for attempt := 1; ; attempt++ {
		if addr, err = freeAddr(); err != nil {
			return s, "", "", err
		}
		args := []string{"--port", port(addr), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}
		args = append(args, more...)
		if useTLS {
			args = append(args, "--tls-port", port(addr)) // after more's --port 0
		}
		if cluster {
			// Not the default bus port, port + 10000, which may be taken or
			// out of range.
			b, err := freeAddr()
			if err != nil {
				return s, "", "", err
			}
			if bus = port(b); bus == port(addr) {
				continue
			}
			args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", bus, "--cluster-node-timeout", "5000")
		}
		s = &server{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
		s.cmd.Dir = dir
		if err := start(s.cmd); err != nil {
			return nil, "", "", fmt.Errorf("start redis-server: %w", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		if answered(addr, probe, s.exited) {
			return s, addr, bus, nil
		}
		select {
		case <-s.exited:
			if attempt < 5 {
				continue // its port was taken meanwhile
			}
			return s, "", "", fmt.Errorf("redis-server exited at start %d times", attempt)
		default:
			return s, "", "", fmt.Errorf("redis-server on %s did not answer", addr)
		}
	}
}

// answered waits up to 10s for the server on addr to answer (over TLS with
// tlsConfig set; a refusal to an unknown user is an answer), and tells
// whether it did before it exited.
func answered(addr string, tlsConfig *tls.Config, exited <-chan struct{}) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: tlsConfig, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for err := c.Ping(context.Background()).Err(); err != nil; err = c.Ping(context.Background()).Err() {
		var rerr redis.Error
		if errors.As(err, &rerr) {
			return true
		}
		select {
		case <-exited:
			return false
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Stop kills the server, or every node of the cluster, as a crash would.
// Only a real server can be stopped.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	if len(r.servers) == 0 {
		t.Fatal("cannot stop an embedded Redis")
	}
	for _, s := range r.servers {
		s.kill()
	}
}

// Client returns a client of the server, or a cluster client of the
// cluster, closed when the test ends. It speaks plaintext as the default
// user: a server StartSecureNode or StartSecureCluster started takes
// keyspace.Connect with the users and TLS of its RedisSecurity instead.
func (r *Redis) Client(t testing.TB) redis.UniversalClient {
	var c redis.UniversalClient
	if r.Cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(r.Addr, ",")})
	} else {
		c = redis.NewClient(&redis.Options{Addr: r.Addr})
	}
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
// shared slots (pkg/keys.Shared) and shards (pkg/keys.Shard) — timers,
// replay progress, segment index — are left out. Two namespaces built from the same
// events compare equal by it.
func CustomerKeys(t testing.TB, rdb redis.UniversalClient, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range Dump(t, rdb, ns, "derived", "pe") {
		if !strings.HasPrefix(k, ":{#") {
			out[k] = v
		}
	}
	return out
}

// SameKeys reports where got differs from want, two results of Dump: the
// number of keys, the first few keys whose content differs, and the first
// few keys got has that want has not.
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
	for k, v := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("key %q should not be there: %.200q", k, v)
			}
		}
	}
}

// Keys returns the keys that match the KEYS pattern, from every master of a
// cluster, sorted.
func Keys(t testing.TB, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	var out []string
	err := keyspace.Scan(context.Background(), rdb, pattern, func(keys []string) error {
		out = append(out, keys...)
		return nil
	})
	if err != nil {
		t.Fatalf("list keys %s: %v", pattern, err)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// KeyCount returns how many keys Redis holds, on every master of a cluster.
func KeyCount(t testing.TB, rdb redis.UniversalClient) int64 {
	t.Helper()
	var mu sync.Mutex
	var n int64
	err := keyspace.ForEachMaster(context.Background(), rdb, func(ctx context.Context, node redis.UniversalClient) error {
		k, err := node.DBSize(ctx).Result()
		mu.Lock()
		n += k
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("count keys: %v", err)
	}
	return n
}

// State dumps prefix (Dump) but for the published snapshots (the records'
// derived field), which depend on when each customer was last evaluated,
// and the writers' bookkeeping (profile.IsBookkeeping): what the events
// applied, which two runs that apply the same events share.
func State(t testing.TB, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	all := Dump(t, rdb, prefix, "derived")
	for k := range all {
		if profile.IsBookkeeping("", k) { // Dump cut the prefix
			delete(all, k)
		}
	}
	return all
}

// Dump returns every key under prefix (without the prefix) with its content
// printed, for comparing whole states: hashes without the fields drop lists,
// sorted sets with their scores, sets sorted. Prefix "" dumps every key. On
// a cluster it dumps the keys of every master.
func Dump(t testing.TB, rdb redis.UniversalClient, prefix string, drop ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	pattern := prefix + ":*"
	if prefix == "" {
		pattern = "*"
	}
	keys := Keys(t, rdb, pattern)
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
			// A profile record is shown as its fields, so that tests can
			// leave some out (drop) and read the others.
			if f, ok := profile.Fields([]byte(v.(string))); ok {
				for _, d := range drop {
					delete(f, d)
				}
				v = f
			}
		}
		out[strings.TrimPrefix(k, prefix)] = fmt.Sprint(v)
	}
	return out
}

// Kafka is an in-process Kafka-protocol cluster started for one test.
type Kafka struct {
	Cluster *kfake.Cluster
	Brokers []string
	// Security is how the test's clients connect: nil (plaintext) unless
	// started by StartSecureKafka.
	Security *stream.Security
}

// StartKafka starts a one-broker cluster with segflow's topics (three
// partitions each) and any extra topics given.
func StartKafka(t testing.TB, extra ...stream.Topic) *Kafka {
	t.Helper()
	return StartSecureKafka(t, nil, nil, extra...)
}

// StartSecureKafka starts a cluster as StartKafka does, secured by the
// kfake options secure (kfake.TLS, kfake.EnableSASL, kfake.Superuser,
// kfake.User), and creates the topics as a client connected with sec, which
// it keeps in Kafka.Security.
func StartSecureKafka(t testing.TB, sec *stream.Security, secure []kfake.Opt, extra ...stream.Topic) *Kafka {
	t.Helper()
	// A short minimum session timeout lets tests that kill consumers see the
	// group rebalance quickly.
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}, secure...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	k := &Kafka{Cluster: c, Brokers: c.ListenAddrs(), Security: sec}
	topics := append(Topics(3), extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stream.EnsureTopics(ctx, k.Brokers, sec, 1, topics...); err != nil {
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
// fails the test if fewer arrive. The partitions are read at once, each in
// fetches of up to 1 MiB; the messages come partition by partition, each
// partition's in order.
func (k *Kafka) ReadTopic(t testing.TB, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := k.Security.Dialer().DialContext(ctx, "tcp", k.Brokers[0])
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
		read := make([][]kafka.Message, len(parts))
		var g errgroup.Group
		for i, p := range parts {
			g.Go(func() (err error) {
				read[i], err = k.readPartition(ctx, topic, p.ID)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		msgs = slices.Concat(read...)
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

// Changes returns the profile.changed events on the profiles topic, with
// their ids, partition by partition, once at least want are there
// (ReadTopic). It fails the test on a message that is no profile.changed of
// the customer it is keyed by.
func (k *Kafka) Changes(t testing.TB, want int, timeout time.Duration) []profile.Change {
	t.Helper()
	msgs := k.ReadTopic(t, event.TopicProfiles, want, timeout)
	out := make([]profile.Change, len(msgs))
	for i, m := range msgs {
		e, err := stream.FromMessage(m)
		if err != nil || e.Type() != event.ProfileChanged {
			t.Fatalf("profiles message %s is not a profile.changed CloudEvent: %v", m.Value, err)
		}
		if err := json.Unmarshal(e.Data(), &out[i]); err != nil {
			t.Fatalf("profile.changed %s: %v", e.ID(), err)
		}
		out[i].ID = e.ID() // the change's id is the CloudEvent's
		if out[i].Customer != string(m.Key) {
			t.Fatalf("profile.changed %s of %q keyed by %q", e.ID(), out[i].Customer, m.Key)
		}
	}
	return out
}

// readPartition reads the messages of a partition of topic there now; none
// if ctx ends before its leader answers, and those read so far if it ends
// during the read.
//
// It fetches on the leader's connection in batches of up to 1 MiB, under
// ctx's deadline. (A kafka.Reader gives each fetch's answer its MaxWait, less
// a margin for the round trip, to begin: an in-process broker on a loaded
// machine took longer to build a 16 MiB answer, and the reader asked again
// from the same offset until the test's time ran out.)
func (k *Kafka) readPartition(ctx context.Context, topic string, partition int) ([]kafka.Message, error) {
	conn, err := k.Security.Dialer().DialLeader(ctx, "tcp", k.Brokers[0], topic, partition)
	if err != nil && ctx.Err() != nil {
		return nil, nil // out of time: the caller reports how many messages came
	}
	if err != nil {
		return nil, fmt.Errorf("dial leader of %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, fmt.Errorf("offsets of %s/%d: %w", topic, partition, err)
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		return nil, fmt.Errorf("seek %s/%d: %w", topic, partition, err)
	}
	out := make([]kafka.Message, 0, last-first)
	for next := first; next < last; {
		b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: stream.FetchBytes, MaxWait: time.Second})
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
			next = m.Offset + 1
		}
		if err := b.Close(); err != nil {
			// The connection's deadline is ctx's, and may pass a moment
			// before ctx says so.
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return out, nil
			}
			return nil, fmt.Errorf("read %s/%d at %d: %w", topic, partition, next, err)
		}
	}
	return out, nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// FreeAddr returns 127.0.0.1:<a port free now>, for a server a test starts
// on an address it is given (the segflow binary's --http-addr). The port is
// below the kernel's range of ephemeral ports (ip_local_port_range), from
// which it gives ports to outgoing connections and to listeners on port 0:
// a port of that range, free when chosen and released for the server to
// bind, was now and then taken meanwhile by a connection to Redis or Kafka,
// and the server failed to start. Other processes do not pick ports below
// the range unless told to, and tests pick at random among twenty thousand.
func FreeAddr(t testing.TB) string {
	t.Helper()
	low := 32768 // Linux's default range starts here, macOS's at 49152
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	for attempt := 0; attempt < 100 && low-first >= 1000; attempt++ { // else no room below the range
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+rand.IntN(low-first)))
		if err == nil {
			addr := l.Addr().String()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			return addr
		}
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freeAddr returns 127.0.0.1:<a port free now>.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
