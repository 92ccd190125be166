package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/updater"
)

var fixedT = time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)

// stream builds a realistic event stream from the first CDNOW orders: each
// customer browses anonymously, carts, identifies (linking the anonymous id)
// and orders; some orders are refunded.
func eventStream(t *testing.T, n int) []kafka.Message {
	t.Helper()
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))[:n]
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []kafka.Message
	add := func(id, typ, key string, at time.Time, data string) {
		msgs = append(msgs, testenv.Message(t, id, typ, key, at, data))
	}
	seen := map[string]bool{}
	for i, o := range orders {
		c, at := o.Customer, o.Time
		sku := fmt.Sprintf("SKU-%d", rng.IntN(40))
		cat := fmt.Sprintf("cat-%d", rng.IntN(6))
		if !seen[c] {
			seen[c] = true
			anon := "v-" + c
			add("view-"+c, event.ProductViewed, "anon:"+anon, at.Add(-2*time.Hour), fmt.Sprintf(`{"anonymous_id":%q,"product":{"sku":%q,"category":%q}}`, anon, sku, cat))
			add("cart-"+c, event.ProductAdded, "anon:"+anon, at.Add(-time.Hour), fmt.Sprintf(`{"anonymous_id":%q,"product":{"sku":%q,"price":"9.99"},"quantity":2}`, anon, sku))
			add("identify-"+c, event.Identify, c, at.Add(-30*time.Minute), fmt.Sprintf(`{"user_id":%q,"anonymous_id":%q,"traits":{"timezone":"America/New_York"},"consent":{"email":%v}}`, c, anon, rng.IntN(2) == 0))
		}
		add(fmt.Sprint("pv-", i), event.ProductViewed, c, at.Add(-10*time.Minute), fmt.Sprintf(`{"user_id":%q,"product":{"sku":%q,"category":%q}}`, c, sku, cat))
		add("order-"+o.ID, event.OrderCompleted, c, at, fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.%02d","currency":"USD","items":[{"sku":%q,"category":%q}]}`, c, o.ID, o.Cents/100, o.Cents%100, sku, cat))
		if rng.IntN(20) == 0 {
			add("refund-"+o.ID, event.OrderRefunded, c, at.Add(72*time.Hour), fmt.Sprintf(`{"user_id":%q,"order_id":%q,"total":"%d.%02d","currency":"USD"}`, c, o.ID, o.Cents/200, o.Cents%100))
		}
	}
	return msgs
}

func produce(t *testing.T, brokers []string, msgs []kafka.Message) {
	t.Helper()
	w := stream.NewWriter(brokers, nil, 0)
	defer w.Close()
	for i := 0; i < len(msgs); i += 1000 {
		if err := w.WriteMessages(context.Background(), msgs[i:min(i+1000, len(msgs))]...); err != nil {
			t.Fatal(err)
		}
	}
}

func newStore(t *testing.T, rdb redis.UniversalClient) *profile.Store {
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return profile.New(rdb, profile.Config{Rules: rules})
}

// runUpdater runs an in-process updater until it has applied want events.
func runUpdater(t *testing.T, brokers []string, group string, store *profile.Store, want int) {
	t.Helper()
	w := stream.NewWriter(brokers, nil, 0)
	defer w.Close()
	reg := prometheus.NewRegistry()
	up, err := updater.New(updater.Config{Brokers: brokers, GroupID: group, Now: func() time.Time { return fixedT }}, store, w, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	defer func() { cancel(); <-done }()
	p := &pipeline{reg: reg}
	p.waitApplied(t, want, 2*time.Minute)
}

func sameState(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	bad := 0
	for k, v := range want {
		if got[k] != v {
			bad++
			if bad <= 5 {
				t.Errorf("%s: %s = %.200s, want %.200s", what, k, got[k], v)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			bad++
			if bad <= 5 {
				t.Errorf("%s: unexpected key %s", what, k)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d keys differ", what, bad, len(want))
	} else {
		t.Logf("%s: all %d keys identical", what, len(want))
	}
}

// sameProfiles compares every customer's profile at T in two stores.
func sameProfiles(t *testing.T, what string, a, b *profile.Store, customers []string) {
	t.Helper()
	ctx := context.Background()
	pa, err := a.Evaluate(ctx, fixedT, customers)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Evaluate(ctx, fixedT, customers)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pa {
		if fmt.Sprint(pa[i]) != fmt.Sprint(pb[i]) {
			t.Errorf("%s: %s is %+v, want %+v", what, customers[i], pb[i], pa[i])
		}
	}
}

func customersOf(msgs []kafka.Message) []string {
	set := map[string]bool{}
	for _, m := range msgs {
		if !strings.HasPrefix(string(m.Key), event.AnonymousPrefix) {
			set[string(m.Key)] = true
		}
	}
	var cs []string
	for c := range set {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// TestDuplicatedAndShuffledDeliveryGivesTheSameState sends every event twice,
// shuffled within windows of 40 events, and compares the state with a run
// that saw each event once, in order.
func TestDuplicatedAndShuffledDeliveryGivesTheSameState(t *testing.T) {
	msgs := eventStream(t, 1500)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	produce(t, k.Brokers, msgs)
	refRedis := testenv.StartRedis(t).Client(t)
	ref := newStore(t, refRedis)
	runUpdater(t, k.Brokers, "reference", ref, len(msgs))

	k2 := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	twice := append(append([]kafka.Message(nil), msgs...), msgs...)
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(twice), func(i, j int) { // keep the copies apart, then disorder locally
		if i/40 == j/40 {
			twice[i], twice[j] = twice[j], twice[i]
		}
	})
	for i := 0; i+40 <= len(twice); i += 40 {
		w := twice[i : i+40]
		rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	produce(t, k2.Brokers, twice)
	dupRedis := testenv.StartRedis(t).Client(t)
	dup := newStore(t, dupRedis)
	runUpdater(t, k2.Brokers, "duplicated", dup, len(twice))

	sameState(t, "duplicated and shuffled", testenv.State(t, refRedis, "sf"), testenv.State(t, dupRedis, "sf"))
	sameProfiles(t, "duplicated and shuffled", ref, dup, customersOf(msgs))
}

// TestKilledUpdaterEndsInTheSameState runs the segflow binary's
// profile-updater, kills it with SIGKILL at random points five times while it
// applies a stream, restarts it each time, and compares the final state with
// an uninterrupted run.
func TestKilledUpdaterEndsInTheSameState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := filepath.Join(t.TempDir(), "segflow")
	build := exec.Command("go", "build", "-o", bin, "github.com/segflow/segflow/services/segflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build segflow: %v\n%s", err, out)
	}
	msgs := eventStream(t, 4000)
	k := testenv.StartKafka(t, stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	produce(t, k.Brokers, msgs)

	refRedis := testenv.StartRedis(t).Client(t)
	ref := newStore(t, refRedis)
	runUpdater(t, k.Brokers, "reference", ref, len(msgs))

	r := testenv.StartRedis(t)
	logs, err := os.Create(filepath.Join(t.TempDir(), "updater.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "profile-updater", "--http-addr", "127.0.0.1:0", "--kafka-brokers", strings.Join(k.Brokers, ","),
			"--redis-addr", r.Addr, "--consumer-group", "killed", "--session-timeout", "1s", "--now", fixedT.Format(time.RFC3339))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rdb := r.Client(t)
	prev := int64(0)
	for kill := 1; kill <= 5; kill++ {
		cmd := start()
		// Kill while it is applying: once it has made progress since the last kill.
		deadline := time.Now().Add(30 * time.Second)
		for testenv.KeyCount(t, rdb) < prev+300 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		prev = testenv.KeyCount(t, rdb)
		t.Logf("kill %d: %d keys in Redis", kill, prev)
	}
	cmd := start()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	killed := newStore(t, rdb)
	want := testenv.State(t, refRedis, "sf")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := testenv.State(t, rdb, "sf")
		if len(got) == len(want) && fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			sameState(t, "killed five times", want, got)
			logs.Sync()
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("state never converged; updater log tail:\n%s", tail(string(b), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	sameState(t, "killed five times", want, testenv.State(t, rdb, "sf"))
	sameProfiles(t, "killed five times", ref, killed, customersOf(msgs))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
