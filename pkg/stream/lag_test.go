package stream_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

// memberEnv, when set to "brokers|group|topic", makes this test binary a
// consumer group member for TestLagIsReportedForThePartitionsOfAKilledMember:
// it commits its first message, says which partition, and waits to be killed.
const memberEnv = "SEGFLOW_TEST_GROUP_MEMBER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(memberEnv); spec != "" {
		groupMember(spec)
		return
	}
	os.Exit(m.Run())
}

func groupMember(spec string) {
	f := strings.Split(spec, "|")
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: strings.Split(f[0], ","), GroupID: f[1], GroupTopics: []string{f[2]},
		StartOffset: kafka.FirstOffset, SessionTimeout: 3 * time.Second, MaxWait: 50 * time.Millisecond,
	})
	ctx := context.Background()
	m, err := r.FetchMessage(ctx)
	if err == nil {
		err = r.CommitMessages(ctx, m)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("committed", m.Partition)
	select {}
}

// gauge reads a gauge of reg with labels.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s %v", name, labels)
	return 0
}

// TestLagIsReportedForThePartitionsOfAKilledMember kills (SIGKILL) the only
// member of a group after it committed one message: it holds every partition
// until its session times out, and nothing is committed. The monitor reports
// the lag of every partition from the brokers, and after the no-progress time
// every partition with lag as making none; once a live member has caught up,
// both fall to 0. (The updater's former gauge was set from a member's own
// reader after its own commits: no live member, no value but 0.)
func TestLagIsReportedForThePartitionsOfAKilledMember(t *testing.T) {
	k := testenv.StartKafka(t, stream.Topic{Name: "in", Partitions: 3})
	w := stream.NewWriter(k.Brokers, k.Security, 0)
	t.Cleanup(func() { w.Close() })
	var msgs []kafka.Message
	for i := range 30 {
		msgs = append(msgs, kafka.Message{Topic: "in", Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")})
	}
	write(t, w, msgs...)
	perPartition := map[int]int64{}
	for _, m := range k.ReadTopic(t, "in", len(msgs), 10*time.Second) {
		perPartition[m.Partition]++
	}

	member := exec.Command(os.Args[0], "-test.run=^$")
	member.Env = append(os.Environ(), memberEnv+"="+strings.Join(k.Brokers, ",")+"|g|in")
	out, err := member.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	var committed int
	line, _ := bufio.NewReader(out).ReadString('\n')
	if _, err := fmt.Sscanf(line, "committed %d", &committed); err != nil {
		_ = member.Process.Kill()
		t.Fatalf("member: %q", line)
	}
	_ = member.Process.Signal(syscall.SIGKILL)
	_ = member.Wait()
	perPartition[committed]--

	reg := prometheus.NewRegistry()
	metrics, err := stream.NewLagMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	mon := &stream.LagMonitor{Brokers: k.Brokers, Group: "g", Topics: []string{"in"}, Metrics: metrics, NoProgressAfter: time.Minute}
	ctx := context.Background()
	now := time.Now()
	report := func(at time.Time) {
		t.Helper()
		if err := mon.Report(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	report(now)
	stuck := 0
	for p := range 3 {
		got := gauge(t, reg, "segflow_consumer_lag", map[string]string{"group": "g", "topic": "in", "partition": fmt.Sprint(p)})
		if got != float64(perPartition[p]) {
			t.Errorf("partition %d: lag %v, want %d", p, got, perPartition[p])
		}
		if perPartition[p] > 0 {
			stuck++
		}
	}
	if got := gauge(t, reg, "segflow_consumer_partitions_without_progress", map[string]string{"group": "g"}); got != 0 {
		t.Errorf("%v partitions without progress before the no-progress time, want 0", got)
	}
	report(now.Add(time.Minute))
	if got := gauge(t, reg, "segflow_consumer_partitions_without_progress", map[string]string{"group": "g"}); got != float64(stuck) {
		t.Errorf("%v partitions without progress after a minute, want %d", got, stuck)
	}

	// A live member takes the partitions once the dead one's session ends,
	// and commits everything.
	consume(t, &stream.Consumer{Brokers: k.Brokers, GroupID: "g", Topics: []string{"in"}, SessionTimeout: time.Second,
		Handle: func(context.Context, []kafka.Message) error { return nil }})
	deadline := time.Now().Add(60 * time.Second)
	for {
		parts, err := stream.GroupLag(ctx, k.Brokers, k.Security, "g", []string{"in"})
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, p := range parts {
			total += p.Lag()
		}
		if total == 0 && len(parts) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live member never caught up: %+v", parts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	report(now.Add(2 * time.Minute))
	for p := range 3 {
		if got := gauge(t, reg, "segflow_consumer_lag", map[string]string{"group": "g", "topic": "in", "partition": fmt.Sprint(p)}); got != 0 {
			t.Errorf("partition %d: lag %v after catching up, want 0", p, got)
		}
	}
	if got := gauge(t, reg, "segflow_consumer_partitions_without_progress", map[string]string{"group": "g"}); got != 0 {
		t.Errorf("%v partitions without progress after catching up, want 0", got)
	}
}
