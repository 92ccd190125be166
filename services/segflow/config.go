package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keyspace"
)

// config is every setting of the segflow binary. Each flag can also be set by
// an environment variable: SEGFLOW_ and the flag's name in upper case with
// dashes as underscores (--kafka-brokers is SEGFLOW_KAFKA_BROKERS). Flags win.
type config struct {
	HTTPAddr string

	KafkaBrokers      string
	RedisAddr         string
	RedisPassword     string
	RedisCluster      bool
	EmbeddedKafkaAddr string
	EmbeddedRedisAddr string
	Partitions        int
	Replication       int

	WriteKeys    string
	DedupWindow  time.Duration
	MaxBodyBytes int64
	MaxEvents    int
	WriteTimeout time.Duration
	Currency     string
	CORSOrigins  string

	ConsumerGroup  string
	RFMWindow      time.Duration
	DefaultCycle   time.Duration
	MinCycle       time.Duration
	MaxCycle       time.Duration
	TagRules       string
	SessionTimeout time.Duration
	Now            string
	Campaigns      string
	TriggerGroup   string
	WebhookURL     string
	WebhookSecret  string
	APITokens      string
	IndexGroup     string

	LogFormat string
	LogLevel  string

	// Settings of the import, replay and verify commands.
	ImportSource string
	ImportFormat string
	TimeZone     string
	Topics       string
	From         string
	Offsets      string
	Into         string
	Switch       bool
	Changes      string
	BatchSize    int
	SortWindow   int
	Step         time.Duration
	Fresh        bool
	Bulk         bool
	Against      string
	Scratch      string
	Keep         bool

	set *flag.FlagSet
}

// devWriteKey is the write key of the embedded pipeline when none is configured.
const devWriteKey = "dev"

// devAPIToken is the read API token of the embedded pipeline when none is configured.
const devAPIToken = "dev"

func parseConfig(name string, args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "address the HTTP API (collector, health, metrics) listens on")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty runs an embedded broker")
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis address host:port, or comma-separated seed nodes of a Redis Cluster; empty runs an embedded Redis")
	fs.StringVar(&c.RedisPassword, "redis-password", "", "Redis password")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", false, "use the Redis Cluster client; without it, it is used when --redis-addr names several nodes or the server reports cluster_enabled:1")
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:19092", "where the embedded Kafka broker listens")
	fs.StringVar(&c.EmbeddedRedisAddr, "embedded-redis-addr", "127.0.0.1:16379", "where the embedded Redis listens")
	fs.IntVar(&c.Partitions, "partitions", 6, "partitions of each topic segflow creates")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of each topic segflow creates")
	fs.StringVar(&c.WriteKeys, "write-keys", "", "collector write keys: comma-separated source=key pairs; a source named web, app or pos (or web-…, app-…, pos-…) sets its default channel. Embedded mode defaults to web=dev")
	fs.DurationVar(&c.DedupWindow, "dedup-window", 24*time.Hour, "how long the collector remembers written event ids")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 4<<20, "largest request body after decompression")
	fs.IntVar(&c.MaxEvents, "max-events", 2000, "most events in one request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "longest wait for Kafka to acknowledge a write")
	fs.StringVar(&c.Currency, "currency", "USD", "the store currency: profiles sum money in it (other currencies are dead-lettered), and Segment orders that name none are in it")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated browser origins allowed to call the collector; empty allows any")
	fs.StringVar(&c.ConsumerGroup, "consumer-group", "segflow-profile-updater", "Kafka consumer group of the profile-updater")
	fs.DurationVar(&c.RFMWindow, "rfm-window", 365*24*time.Hour, "RFM window W")
	fs.DurationVar(&c.DefaultCycle, "default-cycle", 30*24*time.Hour, "NES purchase cycle of customers with fewer than two orders")
	fs.DurationVar(&c.MinCycle, "min-cycle", 7*24*time.Hour, "shortest NES purchase cycle")
	fs.DurationVar(&c.MaxCycle, "max-cycle", 365*24*time.Hour, "longest NES purchase cycle")
	fs.StringVar(&c.TagRules, "tag-rules", "", "YAML file of tag and tier rules; empty uses the built-in defaults")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", 10*time.Second, "how long the consumer group waits for a member that stopped answering")
	fs.StringVar(&c.Now, "now", "", "fix the profile-updater's clock at this RFC 3339 time, for reproducible backfills and tests; empty is the wall clock")
	fs.StringVar(&c.Campaigns, "campaigns", "", "YAML file of campaigns for the trigger service (see deploy/campaigns.yaml); empty runs no campaigns")
	fs.StringVar(&c.TriggerGroup, "trigger-group", "segflow-trigger", "Kafka consumer group of the trigger service")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "deliver every trigger to this URL as well (signed, retried, dead-lettered to triggers.undelivered)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 key of the webhook's X-Segflow-Signature header")
	fs.StringVar(&c.APITokens, "api-tokens", "", "read API Bearer tokens: comma-separated name=token pairs (the name is recorded as the requester of erasures). Embedded mode defaults to dashboard=dev")
	fs.StringVar(&c.IndexGroup, "index-group", "segflow-index", "Kafka consumer group of the segment index the read API serves")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or console")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	switch name {
	case "import":
		fs.StringVar(&c.ImportSource, "source", "/import/orders", "CloudEvent source of the imported orders; re-importing under the same source writes nothing new")
		fs.StringVar(&c.ImportFormat, "format", "", "csv or jsonl; empty: from the file name (.csv, else JSON lines)")
		fs.StringVar(&c.TimeZone, "time-zone", "UTC", "IANA time zone of order times written without one")
	case "replay", "verify":
		fs.StringVar(&c.Topics, "topics", strings.Join(event.Topics, ","), "comma-separated topics to replay; events.invalid re-publishes the dead letters that are now valid")
		fs.StringVar(&c.From, "from", "", "replay from this RFC 3339 time (the broker's offset for that time in each partition); empty: from the beginning")
		fs.StringVar(&c.Offsets, "offsets", "", "explicit start offsets, comma-separated topic/partition=offset; they win over --from for those partitions")
		fs.IntVar(&c.BatchSize, "batch-size", 500, "most events applied together")
		fs.IntVar(&c.SortWindow, "sort-window", 50000, "events read ahead and sorted by event time before they are applied (progress is saved after each window); events further out of order are applied late")
		fs.DurationVar(&c.Step, "step", time.Hour, "event-time resolution: events and timers within this of each other are evaluated as of the same time")
		fs.StringVar(&c.Changes, "changes", "drop", "profile.changed of the replay: drop (no trigger ever sees them) or backfill (published marked backfill; the trigger service records its decisions as suppressed with reason backfill)")
		fs.StringVar(&c.Into, "into", "", "build into this fresh namespace (key prefix, e.g. sf2) instead of in place in the live one")
		fs.BoolVar(&c.Switch, "switch", false, "with --into: once caught up, switch the live namespace to it")
		fs.BoolVar(&c.Fresh, "fresh", false, "start over instead of resuming an unfinished replay into the same namespace")
		fs.BoolVar(&c.Bulk, "bulk", name == "verify", "write the events without evaluating them in event time, then evaluate every customer once: the same profiles, several times faster, no changes of the past (needs --changes drop)")
		if name == "verify" {
			fs.StringVar(&c.Against, "against", "", "namespace to compare with; empty: the live one")
			fs.StringVar(&c.Scratch, "scratch", "sf-verify", "scratch namespace the profiles are rebuilt in")
			fs.BoolVar(&c.Keep, "keep", false, "keep the scratch namespace after comparing")
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			_ = f.Value.Set(v)
		}
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.set = fs
	if c.embedded() && c.WriteKeys == "" {
		c.WriteKeys = "web=" + devWriteKey
	}
	if c.embedded() && c.APITokens == "" {
		c.APITokens = "dashboard=" + devAPIToken
	}
	if name == "api" {
		if _, err := c.apiTokens(); err != nil {
			return nil, err
		}
	}
	if name == "run" || name == "collector" {
		if _, err := c.writeKeys(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func envName(flagName string) string {
	return "SEGFLOW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *config) embedded() bool { return c.KafkaBrokers == "" || c.RedisAddr == "" }

func (c *config) brokers() []string { return splitList(c.KafkaBrokers) }

// redis returns the Redis connection settings, at addrs (--redis-addr's,
// or an embedded server's).
func (c *config) redis(addrs string) keyspace.Config {
	return keyspace.Config{Addrs: splitList(addrs), Password: c.RedisPassword, Cluster: c.RedisCluster}
}

// writeKeys parses --write-keys into the collector's map.
func (c *config) writeKeys() (map[string]collector.Source, error) {
	names, err := secrets("write-keys", c.WriteKeys, "source=key", "the collector")
	if err != nil {
		return nil, err
	}
	keys := make(map[string]collector.Source, len(names))
	for key, name := range names {
		channel, _, _ := strings.Cut(name, "-")
		if !event.IsChannel(channel) {
			channel = event.ChannelWeb
		}
		keys[key] = collector.Source{Name: name, Channel: channel}
	}
	return keys, nil
}

// secrets parses a flag of name=secret pairs into secret -> name: each
// secret names one holder, and at least one is given, or the service that
// reads them (who) would refuse every request.
func secrets(flagName, list, form, who string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range splitList(list) {
		name, secret, ok := strings.Cut(pair, "=")
		name, secret = strings.TrimSpace(name), strings.TrimSpace(secret)
		if !ok || name == "" || secret == "" {
			return nil, fmt.Errorf("--%s: %q is not %s", flagName, pair, form)
		}
		if _, dup := out[secret]; dup {
			return nil, fmt.Errorf("--%s: one secret is given twice", flagName)
		}
		out[secret] = name
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: none configured; %s would refuse every request", flagName, who)
	}
	return out, nil
}

// String prints the configuration with secrets masked, for the start-up log.
func (c *config) String() string {
	var lines []string
	c.set.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "redis-password", "webhook-secret":
			if v != "" {
				v = "****"
			}
		case "write-keys", "api-tokens":
			var masked []string
			for _, pair := range splitList(v) {
				name, _, _ := strings.Cut(pair, "=")
				masked = append(masked, name+"=****")
			}
			v = strings.Join(masked, ",")
		}
		lines = append(lines, f.Name+"="+v)
	})
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// apiTokens parses --api-tokens into token -> name.
func (c *config) apiTokens() (map[string]string, error) {
	return secrets("api-tokens", c.APITokens, "name=token", "the read API")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// clock returns the profile-updater's clock: --now, or the wall clock.
func (c *config) clock() (func() time.Time, error) {
	if c.Now == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		return nil, fmt.Errorf("--now: %w", err)
	}
	return func() time.Time { return t }, nil
}
