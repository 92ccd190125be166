package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// TestKilledTriggerServiceFinishesABroadcastWithOneDecisionPerMember runs
// the segflow binary's trigger service on a broadcast to 6000 members, kills
// it with SIGKILL at random points three times while it decides them,
// restarts it each time, and checks that every member got exactly one
// decision — the outcome their consent and the holdout give — and that the
// broadcast counted each once.
func TestKilledTriggerServiceFinishesABroadcastWithOneDecisionPerMember(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "segflow")
	build := exec.Command("go", "build", "-o", bin, "github.com/segflow/segflow/services/segflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build segflow: %v\n%s", err, out)
	}
	const camps = "campaigns:\n  - {name: points, kind: broadcast, channel: email, holdout: 0.2, action: {type: points, params: {points: \"100\"}}}\n"
	campsFile := filepath.Join(dir, "campaigns.yaml")
	if err := os.WriteFile(campsFile, []byte(camps), 0o600); err != nil {
		t.Fatal(err)
	}
	k := testenv.StartKafka(t, stream.Topic{Name: trigger.TopicTriggers, Partitions: 3}, stream.Topic{Name: trigger.TopicDecisions, Partitions: 3},
		stream.Topic{Name: event.TopicProfiles, Partitions: 3})
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()

	// 6000 buyers, every tenth without consent to email.
	now := time.Now().UTC()
	store := newStore(t, rdb)
	var ops []profile.Op
	var members []string
	refused := map[string]bool{}
	for i := range 6000 {
		c := fmt.Sprintf("m%05d", i)
		members = append(members, c)
		refused[c] = i%10 == 0
		for _, ev := range []struct{ typ, data string }{
			{event.Identify, fmt.Sprintf(`{"user_id":%q,"consent":{"email":%v}}`, c, !refused[c])},
			{event.OrderCompleted, fmt.Sprintf(`{"user_id":%q,"order_id":"o-%s","total":"10.00","currency":"USD"}`, c, c)},
		} {
			op, err := profile.OpOf(testenv.Event(ev.typ+c, ev.typ, c, now.Add(-time.Hour), ev.data), "USD")
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
	}
	if _, _, err := store.Apply(ctx, now, ops); err != nil {
		t.Fatal(err)
	}
	bs := broadcast.NewStore(rdb)
	if _, err := bs.Create(ctx, broadcast.Broadcast{ID: "b", Campaign: "points", Audience: "N", Schedule: broadcast.Schedule{Kind: broadcast.Now}, Rate: 5000, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	logs, err := os.Create(filepath.Join(dir, "trigger.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	// start starts the trigger service; its exit is sent on the channel.
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(bin, "trigger", "--http-addr", "127.0.0.1:0", "--kafka-brokers", strings.Join(k.Brokers, ","),
			"--redis-addr", r.Addr, "--campaigns", campsFile, "--session-timeout", "1s", "--broadcast-lease", "3s", "--partitions", "3")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited
	}
	// alive fails the test if the trigger service has exited by itself
	// (the exit stays on the channel for whoever waits for it).
	alive := func(exited chan error) {
		select {
		case err := <-exited:
			exited <- err
			logs.Sync()
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("segflow trigger exited: %v; log tail:\n%s", err, tail(string(b), 3000))
		default:
		}
	}
	decided := func() int64 {
		v, err := bs.Get(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		return v.Progress.Decided
	}
	rng := rand.New(rand.NewPCG(17, 3))
	prev := int64(0)
	for kill := 1; kill <= 3; kill++ {
		cmd, exited := start()
		// Kill while it is deciding: once it has decided more since the last kill.
		deadline := time.Now().Add(60 * time.Second)
		for decided() < prev+600 && time.Now().Before(deadline) {
			alive(exited)
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		prev = decided()
		t.Logf("kill %d: %d of %d decided and counted, %d published", kill, prev, len(members), len(published(t, k)))
		if prev >= int64(len(members)) {
			t.Fatal("the broadcast finished before the kills: make it slower")
		}
	}
	// The dead process's lease on the broadcast runs out within 3 s, as it
	// does after each kill above.
	cmd, exited := start()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	deadline := time.Now().Add(2 * time.Minute)
	var v broadcast.View
	for {
		if v, err = bs.Get(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if v.Progress.Status == broadcast.Done {
			break
		}
		alive(exited)
		if time.Now().After(deadline) {
			logs.Sync()
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("broadcast never finished: %+v; log tail:\n%s", v.Progress, tail(string(b), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Independently of the service: holdout by campaign.Assign, then consent.
	want := map[string]string{}
	counts := map[string]int64{}
	for _, c := range members {
		_, held := campaign.Assign("points", c, nil, 0.2)
		switch {
		case held:
			want[c] = trigger.Holdout
		case refused[c]:
			want[c] = trigger.Consent
		default:
			want[c] = trigger.Sent
		}
		counts[want[c]]++
	}
	ids := published(t, k)
	per := map[string]int{}
	for _, d := range ids {
		per[d.Customer]++
		if d.Outcome != want[d.Customer] {
			t.Errorf("%s: %s, want %s", d.Customer, d.Outcome, want[d.Customer])
		}
	}
	for _, c := range members {
		if per[c] != 1 {
			t.Errorf("%s: %d decisions, want 1", c, per[c])
		}
	}
	if len(ids) != len(members) {
		t.Errorf("%d decisions, want %d", len(ids), len(members))
	}
	for o, n := range counts {
		if v.Progress.Outcomes[o] != n {
			t.Errorf("counted %v, want %v", v.Progress.Outcomes, counts)
			break
		}
	}
}

// published reads the decisions on the triggers and decisions topics, by
// id: an announcement repeated after a kill has the same id.
func published(t *testing.T, k *testenv.Kafka) map[string]trigger.Decision {
	t.Helper()
	out := map[string]trigger.Decision{}
	for _, topic := range []string{trigger.TopicTriggers, trigger.TopicDecisions} {
		for _, m := range k.ReadTopic(t, topic, 0, 10*time.Second) {
			ev, err := stream.FromMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			var d trigger.Decision
			if err := json.Unmarshal(ev.Data(), &d); err != nil {
				t.Fatal(err)
			}
			out[ev.ID()] = d
		}
	}
	return out
}
