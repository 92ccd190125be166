package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/stream"
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
	MaxFuture    time.Duration
	MaxBodyBytes int64
	MaxEvents    int
	MaxMessage   int
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

	transport *transport
	set       *flag.FlagSet
}

// The HTTP listen address when none is configured: the embedded pipeline,
// whose secrets are well known, answers on this machine only.
const (
	embeddedHTTPAddr = "127.0.0.1:8080"
	defaultHTTPAddr  = ":8080"
)

// devWriteKey is the write key of the embedded pipeline when none is configured.
const devWriteKey = "dev"

// devAPIToken is the read API token of the embedded pipeline when none is
// configured. It has the admin scope: the embedded pipeline listens on this
// machine only (see checkExposure).
const devAPIToken = "dev"

func parseConfig(name string, args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "address the HTTP API (collector, read API, dashboard, health, metrics) listens on; empty: "+embeddedHTTPAddr+" in embedded mode, "+defaultHTTPAddr+" otherwise. An address beyond this machine is refused while the embedded pipeline's well-known secret "+devWriteKey+" is a write key or API token")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty runs an embedded broker")
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis address host:port, or comma-separated seed nodes of a Redis Cluster; empty runs an embedded Redis")
	fs.StringVar(&c.RedisPassword, "redis-password", "", "Redis password")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", false, "use the Redis Cluster client; without it, it is used when --redis-addr names several nodes or the server reports cluster_enabled:1")
	c.transport = addTransportFlags(fs)
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:19092", "where the embedded Kafka broker listens")
	fs.StringVar(&c.EmbeddedRedisAddr, "embedded-redis-addr", "127.0.0.1:16379", "where the embedded Redis listens")
	fs.IntVar(&c.Partitions, "partitions", 6, "partitions of each topic segflow creates")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of each topic segflow creates")
	fs.StringVar(&c.WriteKeys, "write-keys", "", "collector write keys: comma-separated source=key pairs; a source named web, app or pos (or web-…, app-…, pos-…) sets its default channel. Embedded mode defaults to web=dev")
	fs.DurationVar(&c.DedupWindow, "dedup-window", 24*time.Hour, "how long the collector remembers written event ids")
	fs.DurationVar(&c.MaxFuture, "max-future", event.DefaultMaxFuture, fmt.Sprintf("how far past its receipt an event's time may be (collector and import; at most %s, the bound the profile-updater applies)", event.MaxFutureLimit))
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 4<<20, "largest request body after decompression")
	fs.IntVar(&c.MaxEvents, "max-events", 2000, "most events in one request")
	fs.IntVar(&c.MaxMessage, "max-message-bytes", stream.DefaultMaxMessageBytes, "largest Kafka message the topics take (the brokers' message.max.bytes); the collector rejects larger events and the writer keeps batches within it")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "longest wait for Kafka to acknowledge a write")
	fs.StringVar(&c.Currency, "currency", "USD", "the store currency: profiles sum money in it (other currencies are dead-lettered), and Segment orders that name none are in it")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated browser origins allowed to call the collector (with credentials); empty allows any origin without credentials")
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
	fs.StringVar(&c.APITokens, "api-tokens", "", "read API Bearer tokens: comma-separated name=token pairs, whose token may read (every GET), or name:admin=token, whose token may also erase customers and change their consent. The name, recorded as the requester of erasures, holds no ':' or '='; the token is everything after the first '=' up to the next ',', so it may hold ':' and '='. Embedded mode defaults to dashboard:admin=dev")
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
	if err := c.transport.load(c.KafkaBrokers, c.RedisAddr); err != nil {
		return nil, err
	}
	if c.MaxMessage < 1024 {
		return nil, fmt.Errorf("--max-message-bytes must be at least 1024, not %d", c.MaxMessage)
	}
	if c.MaxFuture <= 0 || c.MaxFuture > event.MaxFutureLimit {
		return nil, fmt.Errorf("--max-future: %s must be above 0 and at most %s", c.MaxFuture, event.MaxFutureLimit)
	}
	if c.embedded() && c.WriteKeys == "" {
		c.WriteKeys = "web=" + devWriteKey
	}
	if c.embedded() && c.APITokens == "" {
		c.APITokens = "dashboard:" + string(api.ScopeAdmin) + "=" + devAPIToken
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = defaultHTTPAddr
		if c.embedded() {
			c.HTTPAddr = embeddedHTTPAddr
		}
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
	if err := c.checkExposure(name); err != nil {
		return nil, err
	}
	return c, nil
}

// checkExposure refuses to serve cmd beyond this machine while a secret it
// accepts is the well-known one of the embedded pipeline: anyone who can
// reach the address could write events, read profiles and erase customers.
func (c *config) checkExposure(cmd string) error {
	if loopback(c.HTTPAddr) {
		return nil
	}
	var flags []string
	if cmd == "run" || cmd == "collector" {
		keys, err := c.writeKeys()
		if _, dev := keys[devWriteKey]; err == nil && dev {
			flags = append(flags, "--write-keys")
		}
	}
	if cmd == "run" || cmd == "api" {
		toks, err := c.apiTokens()
		if _, dev := toks[devAPIToken]; err == nil && dev {
			flags = append(flags, "--api-tokens")
		}
	}
	if len(flags) == 0 {
		return nil
	}
	return fmt.Errorf("--http-addr %s listens beyond this machine while %s hold the embedded pipeline's well-known secret %q: set secrets of your own, or listen on 127.0.0.1",
		c.HTTPAddr, strings.Join(flags, " and "), devWriteKey)
}

// loopback tells whether addr (host:port) is reachable from this machine
// only. An empty host or an unspecified IP listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func envName(flagName string) string {
	return "SEGFLOW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *config) embedded() bool { return c.KafkaBrokers == "" || c.RedisAddr == "" }

func (c *config) brokers() []string { return splitList(c.KafkaBrokers) }

// redis returns the Redis connection settings, at addrs (--redis-addr's,
// or an embedded server's).
func (c *config) redis(addrs string) keyspace.Config {
	return keyspace.Config{Addrs: splitList(addrs), Username: c.transport.redisUser, Password: c.RedisPassword, TLS: c.transport.redis, Cluster: c.RedisCluster}
}

// writeKeys parses --write-keys into the collector's map.
func (c *config) writeKeys() (map[string]collector.Source, error) {
	holders, err := secrets("write-keys", c.WriteKeys, "source=key", "the collector")
	if err != nil {
		return nil, err
	}
	keys := make(map[string]collector.Source, len(holders))
	for key, h := range holders {
		channel, _, _ := strings.Cut(h.name, "-")
		if !event.IsChannel(channel) {
			channel = event.ChannelWeb
		}
		keys[key] = collector.Source{Name: h.name, Channel: channel}
	}
	return keys, nil
}

// holder is who holds a secret of a name=secret flag: the name, and the
// scope given as name:scope=secret.
type holder struct{ name, scope string }

// secrets parses a flag of name=secret pairs into secret -> holder: each
// secret names one holder, and at least one is given, or the service that
// reads them (who) would refuse every request. A pair may give one of
// scopes after the name, name:scope=secret; without one, the holder has the
// first of scopes (a flag without scopes takes none). The name ends at the
// first "=" and the scope at the first ":" before it, so a secret is
// everything after the first "=" and may hold ":" and "=" itself. Errors
// show names, never secrets.
func secrets(flagName, list, form, who string, scopes ...string) (map[string]holder, error) {
	out := map[string]holder{}
	for i, pair := range splitList(list) {
		left, secret, ok := strings.Cut(pair, "=")
		name, scope, scoped := strings.Cut(strings.TrimSpace(left), ":")
		name, scope, secret = strings.TrimSpace(name), strings.TrimSpace(scope), strings.TrimSpace(secret)
		if !ok || name == "" || secret == "" {
			return nil, fmt.Errorf("--%s: entry %d is not %s", flagName, i+1, form)
		}
		switch {
		case scoped && len(scopes) == 0:
			return nil, fmt.Errorf("--%s: %q: a name holds no ':', and this flag takes no scope", flagName, left)
		case scoped && !slices.Contains(scopes, scope):
			return nil, fmt.Errorf("--%s: %q: the scope is one of %s", flagName, left, strings.Join(scopes, ", "))
		case !scoped && len(scopes) > 0:
			scope = scopes[0]
		}
		if _, dup := out[secret]; dup {
			return nil, fmt.Errorf("--%s: one secret is given twice", flagName)
		}
		out[secret] = holder{name: name, scope: scope}
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
		case "redis-password", "webhook-secret", "kafka-sasl-password":
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

// apiTokens parses --api-tokens into token -> holder; a token is read-only
// unless its pair gives the admin scope (name:admin=token).
func (c *config) apiTokens() (map[string]api.Holder, error) {
	holders, err := secrets("api-tokens", c.APITokens, "name=token or name:admin=token", "the read API", string(api.ScopeRead), string(api.ScopeAdmin))
	if err != nil {
		return nil, err
	}
	toks := make(map[string]api.Holder, len(holders))
	for tok, h := range holders {
		toks[tok] = api.Holder{Name: h.name, Scope: api.Scope(h.scope)}
	}
	return toks, nil
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
