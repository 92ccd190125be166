package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zapcore"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/webhook"
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
	Waterfall      string
	SessionTimeout time.Duration
	Now            string
	Campaigns      string
	Journeys       string
	TriggerGroup   string
	BroadcastLease time.Duration
	WebhookURL     string
	WebhookSecret  string
	APITokens      string
	IndexGroup     string
	Demo           bool
	AtRisk         float64
	FitEvery       time.Duration
	RescoreEvery   time.Duration
	FitUnit        time.Duration

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
	args      []string // the command's arguments, without the flags
}

// arg returns the command's argument i, or "" if it has none.
func (c *config) arg(i int) string {
	if i < len(c.args) {
		return c.args[i]
	}
	return ""
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

// parseConfig parses the flags of command name (as typed: "run", "replay
// drop") from args and the environment, and checks every setting before the
// command does any work. A help flag returns an error that [errors.Is]
// [flag.ErrHelp]; a bad flag or setting, a [usageError].
func parseConfig(name string, args []string) (*config, error) {
	cmd := lookup(name)
	if cmd == nil {
		return nil, fmt.Errorf("unknown command %q", name)
	}
	c := &config{transport: newTransport()}
	fs := flag.NewFlagSet("segflow "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, group := range cmd.flags {
		group(fs, c)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			_ = f.Value.Set(v)
		}
	})
	c.set = fs
	// Flags may come before, between or after the arguments; "--" ends
	// the flags.
	for rest := args; len(rest) > 0; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpRequest{cmd}
			}
			return nil, usageError{cmd, err}
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			c.args = append(c.args, left...)
			break
		}
		c.args = append(c.args, left[0])
		rest = left[1:]
	}
	if err := c.transport.load(c.KafkaBrokers, c.RedisAddr); err != nil {
		return nil, usageError{cmd, err}
	}
	if err := c.validate(cmd); err != nil {
		return nil, usageError{cmd, err}
	}
	return c, nil
}

// validate checks the settings of cmd, each flag that cmd has, and fills in
// the defaults that depend on other settings.
func (c *config) validate(cmd *command) error {
	if got, want := len(c.args), len(strings.Fields(cmd.args)); got != want {
		if want == 0 {
			return fmt.Errorf("takes no arguments, got %q", c.args)
		}
		return fmt.Errorf("wants %s, got %d arguments", cmd.args, got)
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
	for _, ck := range c.checks() {
		if c.set.Lookup(ck.flag) == nil {
			continue
		}
		if err := ck.check(); err != nil {
			return err
		}
	}
	switch cmd.name {
	case "api":
		if _, err := c.apiTokens(); err != nil {
			return err
		}
	case "run", "collector":
		if _, err := c.writeKeys(); err != nil {
			return err
		}
		if err := c.demoDefaults(); err != nil {
			return err
		}
	case "trigger":
		if c.Campaigns == "" {
			return errors.New("--campaigns is required: the trigger service runs campaigns")
		}
	}
	// The engineers' commands work on a running deployment, never an
	// embedded one.
	var missing []string
	for _, f := range []string{"kafka-brokers", "redis-addr"} {
		if cmd.service() || c.set.Lookup(f) == nil || c.set.Lookup(f).Value.String() != "" {
			continue
		}
		missing = append(missing, "--"+f+" ("+envName(f)+")")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s required: this command works on a running deployment", strings.Join(missing, " and "))
	}
	return c.checkExposure(cmd.name)
}

// flagCheck checks the value of one flag.
type flagCheck struct {
	flag  string
	check func() error
}

// checks are the checks of every flag that has one, run for the flags a
// command has, in this order.
func (c *config) checks() []flagCheck {
	positive := func(name string, v int64) flagCheck {
		return flagCheck{name, func() error {
			if v <= 0 {
				return fmt.Errorf("--%s must be above 0, not %d", name, v)
			}
			return nil
		}}
	}
	duration := func(name string, d time.Duration) flagCheck {
		return flagCheck{name, func() error {
			if d <= 0 {
				return fmt.Errorf("--%s must be above 0, not %s", name, d)
			}
			return nil
		}}
	}
	oneOf := func(name, v string, allowed ...string) flagCheck {
		return flagCheck{name, func() error {
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("--%s %q: want one of %s", name, v, strings.Join(allowed, ", "))
			}
			return nil
		}}
	}
	return []flagCheck{
		{"kafka-brokers", func() error { return checkAddrs("kafka-brokers", c.KafkaBrokers) }},
		{"redis-addr", func() error { return checkAddrs("redis-addr", c.RedisAddr) }},
		{"embedded-kafka-addr", func() error { return checkListen("embedded-kafka-addr", c.EmbeddedKafkaAddr) }},
		{"embedded-redis-addr", func() error { return checkListen("embedded-redis-addr", c.EmbeddedRedisAddr) }},
		{"http-addr", func() error { return checkListen("http-addr", c.HTTPAddr) }},
		positive("partitions", int64(c.Partitions)),
		positive("replication", int64(c.Replication)),
		{"max-message-bytes", func() error {
			if c.MaxMessage < 1024 {
				return fmt.Errorf("--max-message-bytes must be at least 1024, not %d", c.MaxMessage)
			}
			return nil
		}},
		{"max-future", func() error {
			if c.MaxFuture <= 0 || c.MaxFuture > event.MaxFutureLimit {
				return fmt.Errorf("--max-future: %s must be above 0 and at most %s", c.MaxFuture, event.MaxFutureLimit)
			}
			return nil
		}},
		duration("write-timeout", c.WriteTimeout),
		duration("dedup-window", c.DedupWindow),
		positive("max-body-bytes", c.MaxBodyBytes),
		positive("max-events", int64(c.MaxEvents)),
		duration("session-timeout", c.SessionTimeout),
		duration("broadcast-lease", c.BroadcastLease),
		duration("rfm-window", c.RFMWindow),
		duration("default-cycle", c.DefaultCycle),
		duration("min-cycle", c.MinCycle),
		duration("max-cycle", c.MaxCycle),
		duration("fit-unit", c.FitUnit),
		{"at-risk", func() error {
			if !(c.AtRisk > 0 && c.AtRisk < 1) {
				return fmt.Errorf("--at-risk %g: want a probability strictly between 0 and 1", c.AtRisk)
			}
			return nil
		}},
		{"fit-every", func() error {
			if c.FitEvery < 0 {
				return fmt.Errorf("--fit-every %s: want 0 (off) or more", c.FitEvery)
			}
			return nil
		}},
		{"rescore-every", func() error {
			if c.RescoreEvery < 0 {
				return fmt.Errorf("--rescore-every %s: want 0 (off) or more", c.RescoreEvery)
			}
			return nil
		}},
		{"tag-rules", func() error { _, err := loadRules(c.TagRules); return err }},
		{"waterfall", func() error { _, err := loadWaterfall(c.Waterfall); return err }},
		{"now", func() error { _, err := c.clock(); return err }},
		{"campaigns", func() error {
			if c.Campaigns == "" {
				return nil
			}
			if _, err := campaign.Load(c.Campaigns); err != nil {
				return fmt.Errorf("--campaigns: %w", err)
			}
			return nil
		}},
		{"journeys", func() error {
			if c.Journeys == "" {
				return nil
			}
			camps, err := campaign.Load(c.Campaigns)
			if c.Campaigns == "" || err != nil {
				return errors.New("--journeys: needs a valid --campaigns, whose guards and coupons the journeys use")
			}
			if _, err := journey.Load(c.Journeys, camps); err != nil {
				return fmt.Errorf("--journeys: %w", err)
			}
			return nil
		}},
		{"webhook-url", func() error { return checkWebhook(c.WebhookURL, c.WebhookSecret) }},
		oneOf("log-format", c.LogFormat, "json", "console"),
		{"log-level", func() error {
			if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
				return fmt.Errorf("--log-level %q: want one of debug, info, warn, error", c.LogLevel)
			}
			return nil
		}},
		{"source", func() error {
			if c.ImportSource == "" {
				return errors.New("--source must not be empty")
			}
			return nil
		}},
		{"format", func() error {
			if c.ImportFormat != "" && c.ImportFormat != importer.CSV && c.ImportFormat != importer.JSONLines {
				return fmt.Errorf("--format %q: want %s or %s, or nothing to tell from the file name", c.ImportFormat, importer.CSV, importer.JSONLines)
			}
			return nil
		}},
		{"time-zone", func() error {
			if _, err := time.LoadLocation(c.TimeZone); err != nil {
				return fmt.Errorf("--time-zone: %w", err)
			}
			return nil
		}},
		{"topics", func() error {
			allowed := append(slices.Clone(event.Topics), event.TopicInvalid)
			topics := splitList(c.Topics)
			if len(topics) == 0 {
				return fmt.Errorf("--topics is empty: want some of %s", strings.Join(allowed, ", "))
			}
			for _, t := range topics {
				if !slices.Contains(allowed, t) {
					return fmt.Errorf("--topics: %q is not a topic segflow replays: want some of %s", t, strings.Join(allowed, ", "))
				}
			}
			return nil
		}},
		oneOf("changes", c.Changes, replay.ChangesDrop, replay.ChangesBackfill),
		{"from", func() error { _, err := replayConfig(c); return err }},
		positive("batch-size", int64(c.BatchSize)),
		positive("sort-window", int64(c.SortWindow)),
		duration("step", c.Step),
		{"switch", func() error {
			if c.Switch && c.Into == "" {
				return errors.New("--switch needs --into: a replay in place is live already")
			}
			return nil
		}},
		{"bulk", func() error {
			if c.Bulk && c.Changes == replay.ChangesBackfill {
				return errors.New("--bulk computes no change of the past to publish: it needs --changes drop")
			}
			return nil
		}},
	}
}

// checkAddrs checks a comma-separated list of host:port addresses to connect
// to; an empty list is for the embedded servers.
func checkAddrs(flagName, list string) error {
	for _, addr := range splitList(list) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("--%s: %q is not host:port: %w", flagName, addr, err)
		}
		if host == "" {
			return fmt.Errorf("--%s: %q has no host", flagName, addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("--%s: %q: the port must be a number from 1 to 65535, not %q", flagName, addr, port)
		}
	}
	return nil
}

// checkListen checks an address to listen on: host:port, where the host may
// be empty (every interface) and the port 0 (any free one).
func checkListen(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s: %q is not host:port: %w", flagName, addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--%s: %q: the port must be a number from 0 to 65535, not %q", flagName, addr, port)
	}
	return nil
}

// checkWebhook checks the webhook's URL and secret, when a URL is set.
func checkWebhook(rawURL, secret string) error {
	if rawURL == "" {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--webhook-url %q: want an http or https URL", rawURL)
	}
	if secret == "" {
		return errors.New("--webhook-url needs --webhook-secret: deliveries are signed")
	}
	if _, err := webhook.Key(secret); err != nil {
		return fmt.Errorf("--webhook-secret: %w", err)
	}
	return nil
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

// kafkaDialer is how segflow connects to the brokers of --kafka-brokers
// (TLS and SASL as the transport flags say) to check them.
func (c *config) kafkaDialer() *kafka.Dialer {
	d := c.transport.kafka.Dialer()
	d.Timeout = brokerDialTimeout
	return d
}

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
