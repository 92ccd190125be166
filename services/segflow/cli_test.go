package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

// call runs segflow with args as main does and returns its exit code,
// stdout and stderr. It fails the test if the command does not return
// within limit.
func call(t *testing.T, limit time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &out, &errb) }()
	select {
	case err := <-done:
		code = exitCode(err, &errb)
	case <-time.After(limit):
		cancel()
		<-done
		t.Fatalf("segflow %s did not return within %s", strings.Join(args, " "), limit)
	}
	return code, out.String(), errb.String()
}

// The flags of each command, written down from what the command does.
var (
	kafkaConn    = []string{"kafka-brokers", "kafka-tls", "kafka-tls-ca", "kafka-tls-cert", "kafka-tls-key", "kafka-tls-server-name", "kafka-tls-insecure-skip-verify", "kafka-sasl-mechanism", "kafka-sasl-username", "kafka-sasl-password"}
	redisConn    = []string{"redis-addr", "redis-password", "redis-cluster", "redis-username", "redis-tls", "redis-tls-ca", "redis-tls-cert", "redis-tls-key", "redis-tls-server-name", "redis-tls-insecure-skip-verify"}
	logging      = []string{"log-format", "log-level"}
	topicsMade   = []string{"partitions", "replication", "topic-retention"}
	everyService = join(kafkaConn, redisConn, logging, topicsMade, []string{"http-addr", "embedded-kafka-addr", "embedded-redis-addr", "write-timeout", "max-message-bytes"})
	evaluation   = []string{"rfm-window", "default-cycle", "min-cycle", "max-cycle", "tag-rules", "waterfall", "currency", "now", "at-risk"}
	consumer     = []string{"session-timeout"}
	collecting   = []string{"write-keys", "dedup-window", "max-future", "max-body-bytes", "max-events", "cors-origins", "currency"}
	updating     = join(evaluation, consumer, []string{"consumer-group", "fit-every", "rescore-every", "fit-unit"})
	triggering   = join(evaluation, consumer, []string{"campaigns", "journeys", "trigger-group", "broadcast-lease", "webhook-url", "webhook-secret"})
	serving      = join(evaluation, consumer, []string{"api-tokens", "index-group", "campaigns", "journeys"})
	reading      = join(evaluation, []string{"topics", "from", "offsets", "batch-size", "sort-window", "step", "bulk"})
)

func join(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var listedFlag = regexp.MustCompile(`(?m)^  --([a-z-]+)`)

func TestEachCommandsHelpListsExactlyItsOwnFlagsAndExitsZero(t *testing.T) {
	for _, tc := range []struct {
		command string
		usage   string
		flags   []string
	}{
		{"run", "segflow run [flags]", join(everyService, collecting, updating, triggering, serving, []string{"demo"})},
		{"collector", "segflow collector [flags]", join(everyService, collecting)},
		{"profile-updater", "segflow profile-updater [flags]", join(everyService, updating)},
		{"trigger", "segflow trigger [flags]", join(everyService, triggering)},
		{"api", "segflow api [flags]", join(everyService, serving)},
		{"import orders", "segflow import orders [flags] FILE", join(kafkaConn, redisConn, logging, topicsMade, []string{"write-timeout", "source", "format", "time-zone", "max-future", "currency"})},
		{"replay", "segflow replay [flags]", join(kafkaConn, redisConn, logging, topicsMade, reading, []string{"write-timeout", "changes", "into", "switch", "fresh"})},
		{"replay drop", "segflow replay drop [flags] NAMESPACE", join(redisConn, logging)},
		{"verify", "segflow verify [flags]", join(kafkaConn, redisConn, logging, reading, []string{"against", "scratch", "keep"})},
		{"fit", "segflow fit [flags]", join(redisConn, logging, evaluation, []string{"fit-unit"})},
		{"healthcheck", "segflow healthcheck URL", nil},
		{"version", "segflow version", nil},
		{"help", "segflow help [COMMAND]", nil},
	} {
		t.Run(tc.command, func(t *testing.T) {
			words := strings.Fields(tc.command)
			for _, args := range [][]string{append(slices.Clone(words), "--help"), append(slices.Clone(words), "-h"), append([]string{"help"}, words...)} {
				if tc.command == "help" && args[len(args)-1] != "help" {
					continue // segflow help --help lists the commands
				}
				code, out, errOut := call(t, 10*time.Second, args...)
				if code != 0 {
					t.Fatalf("segflow %s: exit %d, want 0; stderr:\n%s", strings.Join(args, " "), code, errOut)
				}
				if first, _, _ := strings.Cut(out, "\n"); first != "Usage: "+tc.usage {
					t.Errorf("segflow %s: first line %q, want %q", strings.Join(args, " "), first, "Usage: "+tc.usage)
				}
				var listed []string
				for _, m := range listedFlag.FindAllStringSubmatch(out, -1) {
					listed = append(listed, m[1])
				}
				if !slices.Equal(listed, tc.flags) {
					t.Errorf("segflow %s lists flags\n%v\nwant\n%v", strings.Join(args, " "), listed, tc.flags)
				}
				if !strings.Contains(out, "Examples:\n  segflow "+words[0]) {
					t.Errorf("segflow %s shows no example:\n%s", strings.Join(args, " "), out)
				}
			}
		})
	}
}

func TestTheCommandListAndTheVersionExitZero(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"--help"}, "  replay drop      delete a namespace that is not live"},
		{[]string{"-h"}, "  import orders    write historical orders"},
		{[]string{"help"}, "  healthcheck      exit 0 if URL answers 200"},
		{[]string{"help", "--help"}, "  verify           rebuild profiles"},
		{[]string{"--version"}, "segflow "},
		{[]string{"version"}, "segflow "},
		{[]string{"import", "--help"}, "Usage: segflow import orders [flags] FILE"},
		{[]string{"help", "import"}, "Usage: segflow import orders [flags] FILE"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := call(t, 10*time.Second, tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

func TestTheVersionNamesTheModuleVersionAndTheCommit(t *testing.T) {
	_, out, _ := call(t, 10*time.Second, "--version")
	if !regexp.MustCompile(`^segflow \S+ commit \S+`).MatchString(out) {
		t.Errorf("version %q, want segflow VERSION commit COMMIT", out)
	}
}

func TestUsageErrorsExitTwoWithoutStartingAnything(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string // in stderr
	}{
		{"a bare segflow lists the commands", nil, "Commands:\n  run "},
		{"an unknown command", []string{"nosuch"}, `unknown command "nosuch"`},
		{"a flag before any command", []string{"--kafka-brokers", "k:9092"}, "flags come after it"},
		{"a flag the command does not have", []string{"collector", "--api-tokens", "a=b"}, "collector: flag provided but not defined: -api-tokens"},
		{"a flag of another command", []string{"import", "orders", "--webhook-url", "http://x", "f.csv"}, "flag provided but not defined: -webhook-url"},
		{"a service given an argument", []string{"run", "extra"}, `run: takes no arguments, got ["extra"]`},
		{"import without its file", []string{"import", "orders", "--kafka-brokers", "k:9092", "--redis-addr", "r:6379"}, "import orders: wants FILE, got 0 arguments"},
		{"import without what to import", []string{"import"}, "import what? segflow import orders [flags] FILE"},
		{"help of an unknown command", []string{"help", "nosuch"}, `help: unknown command "nosuch"`},
		{"healthcheck without its URL", []string{"healthcheck"}, "healthcheck: wants URL, got 0 arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := call(t, 10*time.Second, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, tc.stderr)
			}
		})
	}
}

// ordersFile writes a CSV file of orders, rows after the header, and
// returns its path.
func ordersFile(t *testing.T, rows string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte("order_id,customer_id,time,total,currency\n"+rows), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestEveryFlagIsCheckedBeforeAnyWork gives each command a bad value and
// addresses where nothing listens: the error must be about the flag, with
// the values it takes, and not about a connection, which would come first if
// the command started working before checking its flags.
func TestEveryFlagIsCheckedBeforeAnyWork(t *testing.T) {
	kafka, redis := closedAddr(t), closedAddr(t)
	campaigns := filepath.Join("..", "..", "deploy", "campaigns.yaml")
	brokenWaterfall := filepath.Join(t.TempDir(), "waterfall.yaml")
	if err := os.WriteFile(brokenWaterfall, []byte("segments:\n  - {name: a, when: orders > 1}\n  - {name: b, when: ordres > 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cmd   string
		flags []string
		want  string
	}{
		{"an unknown --changes", "replay", []string{"--changes", "maybe"}, `replay: --changes "maybe": want one of drop, backfill`},
		{"an unknown topic", "replay", []string{"--topics", "browse,nosuch"}, `--topics: "nosuch" is not a topic segflow replays: want some of browse, cart, purchase, identify, events.invalid`},
		{"a topic verify cannot read", "verify", []string{"--topics", "profiles"}, `--topics: "profiles" is not a topic`},
		{"a broker port that is not a number", "replay", []string{"--kafka-brokers", "host:notaport"}, `--kafka-brokers: "host:notaport": the port must be a number from 1 to 65535, not "notaport"`},
		{"a broker without a port", "collector", []string{"--kafka-brokers", "kafka", "--write-keys", "web=k"}, `--kafka-brokers: "kafka" is not host:port`},
		{"a Redis address without a host", "replay drop", []string{"--redis-addr", ":6379", "sf2"}, `--redis-addr: ":6379" has no host`},
		{"a --from that is not a time", "replay", []string{"--from", "yesterday"}, "--from: parsing time"},
		{"malformed --offsets", "verify", []string{"--offsets", "purchase=3"}, `--offsets: "purchase=3" is not topic/partition=offset`},
		{"--switch without --into", "replay", []string{"--switch"}, "--switch needs --into"},
		{"--bulk with backfilled changes", "replay", []string{"--bulk", "--changes", "backfill"}, "--bulk computes no change of the past to publish: it needs --changes drop"},
		{"an unknown time zone", "import orders", []string{"--time-zone", "Mars/Olympus", "f.csv"}, "--time-zone: unknown time zone Mars/Olympus"},
		{"an unknown file format", "import orders", []string{"--format", "xml", "f.csv"}, `--format "xml": want csv or jsonl`},
		{"an unknown log level", "verify", []string{"--log-level", "loud"}, `--log-level "loud": want one of debug, info, warn, error`},
		{"an unknown log format", "profile-updater", []string{"--log-format", "xml"}, `--log-format "xml": want one of json, console`},
		{"no partitions", "import orders", []string{"--partitions", "0", "f.csv"}, "--partitions must be above 0, not 0"},
		{"a --now that is not a time", "api", []string{"--api-tokens", "crm=t", "--now", "today"}, "--now: parsing time"},
		{"a campaigns file that is not there", "trigger", []string{"--campaigns", "nosuch.yaml"}, "--campaigns: "},
		{"the trigger service without campaigns", "trigger", []string{}, "--campaigns is required"},
		{"a journeys file that is not there", "trigger", []string{"--campaigns", campaigns, "--journeys", "nosuch.yaml"}, "--journeys: "},
		{"journeys without campaigns", "api", []string{"--api-tokens", "crm=t", "--journeys", "../../deploy/journeys.yaml"}, "--journeys: needs a valid --campaigns"},
		{"a webhook without a secret", "trigger", []string{"--campaigns", campaigns, "--webhook-url", "https://hooks.example/x"}, "--webhook-url needs --webhook-secret"},
		{"a webhook URL that is not http", "trigger", []string{"--campaigns", campaigns, "--webhook-url", "ftp://x", "--webhook-secret", "s"}, `--webhook-url "ftp://x": want an http or https URL`},
		{"a tag rules file that is not there", "profile-updater", []string{"--tag-rules", "nosuch.yaml"}, "--tag-rules: "},
		{"a waterfall file that is not there", "profile-updater", []string{"--waterfall", "nosuch.yaml"}, "--waterfall: "},
		{"a waterfall that does not compile", "api", []string{"--api-tokens", "crm=t", "--waterfall", brokenWaterfall}, `segment "b": when:1:1: undeclared reference to 'ordres'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := strings.Fields(tc.cmd)
			if tc.cmd != "replay drop" {
				args = append(args, "--kafka-brokers", kafka)
			}
			args = append(append(args, "--redis-addr", redis), tc.flags...)
			code, out, errOut := call(t, 10*time.Second, args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("printed before refusing:\n%s", out)
			}
		})
	}
}

func TestTheEngineersCommandsNeedTheAddressesOfADeployment(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "--kafka-brokers (SEGFLOW_KAFKA_BROKERS) and --redis-addr (SEGFLOW_REDIS_ADDR) required"},
		{[]string{"verify", "--kafka-brokers", "k:9092"}, "--redis-addr (SEGFLOW_REDIS_ADDR) required"},
		{[]string{"import", "orders", "--redis-addr", "r:6379", "f.csv"}, "--kafka-brokers (SEGFLOW_KAFKA_BROKERS) required"},
		{[]string{"replay", "drop", "sf2"}, "--redis-addr (SEGFLOW_REDIS_ADDR) required"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := call(t, 10*time.Second, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// TestAnUnreachableBrokerFailsNamingItsAddress gives each kind of command a
// broker address where nothing listens: before, the services retried topic
// creation for 30 s and then printed "[8] Broker Not Available".
func TestAnUnreachableBrokerFailsNamingItsAddress(t *testing.T) {
	r := testenv.StartRedis(t)
	closed := closedAddr(t)
	orders := ordersFile(t, "1,alice,2024-01-02,10.00,USD\n")
	for _, args := range [][]string{
		{"profile-updater", "--http-addr", "127.0.0.1:0"},
		{"collector", "--http-addr", "127.0.0.1:0", "--write-keys", "web=k"},
		{"replay"},
		{"verify"},
		{"import", "orders"},
	} {
		t.Run(args[0], func(t *testing.T) {
			args := append(args, "--kafka-brokers", closed, "--redis-addr", r.Addr, "--log-level", "error")
			if args[0] == "import" {
				args = append(args, orders)
			}
			code, _, errOut := call(t, 15*time.Second, args...)
			want := "--kafka-brokers: no broker answered within 3s: " + closed + ": "
			if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "connect: connection refused") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2, %q and why", code, errOut, want)
			}
		})
	}
}

// TestAnAddressThatIsNotABrokerFailsNamingIt points --kafka-brokers at a
// server that accepts connections and closes them, as a proxy or another
// service might: a TCP connection is not enough, the broker must answer.
func TestAnAddressThatIsNotABrokerFailsNamingIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	r := testenv.StartRedis(t)
	code, _, errOut := call(t, 15*time.Second, "replay", "--kafka-brokers", l.Addr().String(), "--redis-addr", r.Addr)
	want := "--kafka-brokers: no broker answered within 3s: " + l.Addr().String() + ": connected, but no Kafka answer"
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, want)
	}
}

// TestOneAnsweringSeedBrokerIsEnough lists a closed address before a live
// broker: the import goes on through the live one.
func TestOneAnsweringSeedBrokerIsEnough(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	orders := ordersFile(t, "1,alice,2024-01-02,10.00,USD\n")
	code, out, errOut := call(t, 60*time.Second, "import", "orders", "--kafka-brokers", closedAddr(t)+","+k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn", orders)
	if code != 0 || !strings.Contains(out, "1 rows: 1 written") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "a kafka seed broker does not answer") {
		t.Errorf("the unreachable seed was not logged:\n%s", errOut)
	}
}

func TestANamespaceThatDoesNotExistIsRefused(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	// A key that looks like a namespace's, never recorded as one: only the
	// namespaces segflow records count.
	if err := rdb.Set(context.Background(), "nosuch:{#rfm}:at", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"verify against it", append([]string{"verify", "--against", "nosuch"}, conn...), "--against: namespace nosuch does not exist; the namespaces are sf"},
		{"drop it", []string{"replay", "drop", "--redis-addr", r.Addr, "nosuch"}, "segflow: namespace nosuch does not exist; the namespaces are sf"},
		{"drop it, flags after", []string{"replay", "drop", "nosuch", "--redis-addr", r.Addr}, "segflow: namespace nosuch does not exist; the namespaces are sf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := call(t, 60*time.Second, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant a non-zero exit and %q", code, out, errOut, tc.want)
			}
		})
	}
	if n, err := rdb.Exists(context.Background(), "nosuch:{#rfm}:at").Result(); err != nil || n != 1 {
		t.Errorf("the key of the refused namespace: exists %d, %v", n, err)
	}
}

func TestAnImportWithFailedRowsExitsOneAfterItsSummary(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	path := ordersFile(t, "1,alice,2024-01-02,10.00,USD\n2,bob,not a time,5.00,USD\n3,carol,2024-01-03,7.00,USD\n")
	code, out, errOut := call(t, 60*time.Second, "import", "orders", "--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, "--log-level", "warn", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "3 rows: 2 written, 0 already imported, 1 errors") {
		t.Errorf("stdout has no summary:\n%s", out)
	}
	if !strings.Contains(errOut, "segflow: rows failed: 1 of 3") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// Flags may come before, between or after a command's arguments, and "--"
// makes what follows arguments even if it looks like a flag.
func TestFlagsMayFollowTheArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		addr string
	}{
		{[]string{"nosuch", "--redis-addr", "r:6379"}, "nosuch", "r:6379"},
		{[]string{"--redis-addr", "r:6379", "nosuch"}, "nosuch", "r:6379"},
		{[]string{"--redis-addr", "r:6379", "--", "-dash"}, "-dash", "r:6379"},
	} {
		c, err := parseConfig("replay drop", tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.args[0] != tc.want || c.RedisAddr != tc.addr {
			t.Errorf("%q: argument %q, --redis-addr %q; want %q and %q", tc.args, c.args[0], c.RedisAddr, tc.want, tc.addr)
		}
	}
	if _, err := parseConfig("replay drop", []string{"a", "--redis-addr", "r:6379", "b"}); err == nil || !strings.Contains(err.Error(), "got 2 arguments") {
		t.Errorf("two namespaces: %v, want a usage error saying 2 arguments", err)
	}
}
