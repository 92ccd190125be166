package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// The flags of the commands, in groups: a command registers the groups whose
// settings it reads, so that its help lists exactly the flags it takes. A
// flag that two groups of one command share (--campaigns, --session-timeout)
// is registered by the first.

// flagGroup registers a group of flags on fs, into c.
type flagGroup func(fs *flag.FlagSet, c *config)

// kafkaFlags: how to reach Kafka.
func kafkaFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers, host:port; the services run an embedded broker when it is empty")
	c.transport.addKafka(fs)
}

// redisFlags: how to reach Redis.
func redisFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis address host:port, or comma-separated seed nodes of a Redis Cluster; the services run an embedded Redis when it is empty")
	fs.StringVar(&c.RedisPassword, "redis-password", "", "Redis password")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", false, "use the Redis Cluster client; without it, it is used when --redis-addr names several nodes or the server reports cluster_enabled:1")
	c.transport.addRedis(fs)
}

// embeddedFlags: where the embedded servers listen.
func embeddedFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:19092", "where the embedded Kafka broker listens, when --kafka-brokers is empty")
	fs.StringVar(&c.EmbeddedRedisAddr, "embedded-redis-addr", "127.0.0.1:16379", "where the embedded Redis listens, when --redis-addr is empty")
}

// topicFlags: the topics segflow creates when they are missing.
func topicFlags(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Partitions, "partitions", 6, "partitions of each topic segflow creates")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of each topic segflow creates")
	c.transport.addRetention(fs)
}

// writeFlags: how segflow writes to Kafka.
func writeFlags(fs *flag.FlagSet, c *config) {
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "longest wait for Kafka to acknowledge a write")
}

// serviceFlags: what every long-running service has.
func serviceFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "address the HTTP API (collector, read API, dashboard, health, metrics) listens on; empty: "+embeddedHTTPAddr+" in embedded mode, "+defaultHTTPAddr+" otherwise. An address beyond this machine is refused while the embedded pipeline's well-known secret "+devWriteKey+" is a write key or API token")
	fs.IntVar(&c.MaxMessage, "max-message-bytes", stream.DefaultMaxMessageBytes, "largest Kafka message the topics take (the brokers' message.max.bytes); the collector rejects larger events and the writer keeps batches within it")
}

// logFlags: the logs on stderr.
func logFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or console")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
}

// currencyFlag: the store currency.
func currencyFlag(fs *flag.FlagSet, c *config) {
	if fs.Lookup("currency") == nil {
		fs.StringVar(&c.Currency, "currency", "USD", "the store currency: profiles sum money in it (other currencies are dead-lettered), and orders that name none are in it")
	}
}

// maxFutureFlag: how far ahead of its receipt an event may be.
func maxFutureFlag(fs *flag.FlagSet, c *config) {
	fs.DurationVar(&c.MaxFuture, "max-future", event.DefaultMaxFuture, fmt.Sprintf("how far past its receipt an event's time may be (at most %s, the bound the profile-updater applies)", event.MaxFutureLimit))
}

// storeFlags: how profiles are evaluated (docs/segmentation.md).
func storeFlags(fs *flag.FlagSet, c *config) {
	if fs.Lookup("rfm-window") != nil {
		return
	}
	fs.DurationVar(&c.RFMWindow, "rfm-window", 365*24*time.Hour, "RFM window W")
	fs.DurationVar(&c.DefaultCycle, "default-cycle", 30*24*time.Hour, "NES purchase cycle of customers with fewer than two orders")
	fs.DurationVar(&c.MinCycle, "min-cycle", 7*24*time.Hour, "shortest NES purchase cycle")
	fs.DurationVar(&c.MaxCycle, "max-cycle", 365*24*time.Hour, "longest NES purchase cycle")
	fs.StringVar(&c.TagRules, "tag-rules", "", "YAML file of tag and tier rules; empty uses the built-in defaults")
	fs.Float64Var(&c.AtRisk, "at-risk", profile.DefaultAtRisk, "P(alive) below which a customer with repeat purchases is tagged "+profile.TagAtRisk+" (with a fitted model: segflow fit)")
	fs.StringVar(&c.Waterfall, "waterfall", "", "YAML file of a waterfall segmentation (see deploy/waterfall.yaml); empty assigns none")
	currencyFlag(fs, c)
}

// fitUnitFlag: the prediction models' time unit.
func fitUnitFlag(fs *flag.FlagSet, c *config) {
	fs.DurationVar(&c.FitUnit, "fit-unit", predict.Week, "time unit the prediction models are fitted in")
}

// fitFlags: segflow fit.
func fitFlags(fs *flag.FlagSet, c *config) {
	fitUnitFlag(fs, c)
	storeFlags(fs, c)
	clockFlag(fs, c)
}

// clockFlag: the clock profiles are evaluated at.
func clockFlag(fs *flag.FlagSet, c *config) {
	if fs.Lookup("now") == nil {
		fs.StringVar(&c.Now, "now", "", "fix the clock at this RFC 3339 time, for reproducible backfills and tests; empty is the wall clock")
	}
}

// consumerFlags: what every consumer group has.
func consumerFlags(fs *flag.FlagSet, c *config) {
	if fs.Lookup("session-timeout") == nil {
		fs.DurationVar(&c.SessionTimeout, "session-timeout", 10*time.Second, "how long a consumer group waits for a member that stopped answering")
	}
	clockFlag(fs, c)
}

// campaignsFlag: the campaigns file.
func campaignsFlag(fs *flag.FlagSet, c *config) {
	if fs.Lookup("campaigns") == nil {
		fs.StringVar(&c.Campaigns, "campaigns", "", "YAML file of campaigns (see deploy/campaigns.yaml); the trigger service runs them, the read API reports their results")
	}
	if fs.Lookup("journeys") == nil {
		fs.StringVar(&c.Journeys, "journeys", "", "YAML file of multi-step journeys (see deploy/journeys.yaml), with --campaigns; the trigger service runs them, the read API reports their results")
	}
}

// collectorFlags: the HTTP collector.
func collectorFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.WriteKeys, "write-keys", "", "collector write keys: comma-separated source=key pairs; a source named web, app or pos (or web-…, app-…, pos-…) sets its default channel. Embedded mode defaults to web=dev")
	fs.DurationVar(&c.DedupWindow, "dedup-window", 24*time.Hour, "how long the collector remembers written event ids")
	maxFutureFlag(fs, c)
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 4<<20, "largest request body after decompression")
	fs.IntVar(&c.MaxEvents, "max-events", 2000, "most events in one request")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated browser origins allowed to call the collector (with credentials); empty allows any origin without credentials")
	currencyFlag(fs, c)
}

// updaterFlags: the profile-updater.
func updaterFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.ConsumerGroup, "consumer-group", "segflow-profile-updater", "Kafka consumer group of the profile-updater")
	fs.DurationVar(&c.FitEvery, "fit-every", 24*time.Hour, "refit the prediction models (BG/NBD, Gamma-Gamma) on the live namespace this often; 0 turns refits off")
	fs.DurationVar(&c.RescoreEvery, "rescore-every", 24*time.Hour, "rescore every customer of the live namespace against the whole population at each boundary of this interval on the clock (midnight UTC for 24h), publishing the changes the population's movement brought; 0 turns rescores off")
	fitUnitFlag(fs, c)
	consumerFlags(fs, c)
	storeFlags(fs, c)
}

// triggerFlags: the trigger service and its webhook.
func triggerFlags(fs *flag.FlagSet, c *config) {
	campaignsFlag(fs, c)
	fs.StringVar(&c.TriggerGroup, "trigger-group", "segflow-trigger", "Kafka consumer group of the trigger service")
	fs.DurationVar(&c.BroadcastLease, "broadcast-lease", 10*time.Second, "how long a trigger service keeps a broadcast it steps to itself: how long a broadcast waits when the process stepping it dies; longer than a step of 500 members takes")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "deliver every trigger to this URL as well (signed, retried, dead-lettered to triggers.undelivered)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 key of the webhook's signature: a whsec_<base64> secret, or any string")
	consumerFlags(fs, c)
	storeFlags(fs, c)
}

// apiFlags: the read API, its segment index and the dashboard.
func apiFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.APITokens, "api-tokens", "", "read API Bearer tokens: comma-separated name=token pairs, whose token may read (every GET), or name:admin=token, whose token may also erase customers and change their consent. The name, recorded as the requester of erasures, holds no ':' or '='; the token is everything after the first '=' up to the next ',', so it may hold ':' and '='. Embedded mode defaults to dashboard:admin=dev")
	fs.StringVar(&c.IndexGroup, "index-group", "segflow-index", "Kafka consumer group of the segment index the read API serves")
	campaignsFlag(fs, c)
	consumerFlags(fs, c)
	storeFlags(fs, c)
}

// demoFlags: segflow run --demo.
func demoFlags(fs *flag.FlagSet, c *config) {
	fs.BoolVar(&c.Demo, "demo", false, "load the bundled CDNOW sample (2,357 customers, 1997-01 to 1998-06) into the running pipeline week by week, "+
		"its clock following the weeks so that the campaigns of --campaigns (default "+demoCampaigns+") decide each week and later orders convert; "+
		"then the clock stays at --now (default "+demo.Final.Format(time.RFC3339)+", a week after the sample; a --now before "+demo.End.Format(time.DateOnly)+" is refused). "+
		"Once loaded, the same Redis is not loaded again; a load that stopped goes on from its last week")
}

// importFlags: segflow import orders.
func importFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.ImportSource, "source", "/import/orders", "CloudEvent source of the imported orders; re-importing under the same source writes nothing new")
	fs.StringVar(&c.ImportFormat, "format", "", "csv or jsonl; empty: from the file name (.csv, else JSON lines)")
	fs.StringVar(&c.TimeZone, "time-zone", "UTC", "IANA time zone of order times written without one")
	maxFutureFlag(fs, c)
	currencyFlag(fs, c)
}

// readFlags: which events replay and verify read, and how they apply them.
func readFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.Topics, "topics", strings.Join(event.Topics, ","), "comma-separated topics to replay, of "+strings.Join(append(event.Topics[:len(event.Topics):len(event.Topics)], event.TopicInvalid), ", ")+"; "+event.TopicInvalid+" re-publishes the dead letters that are now valid")
	fs.StringVar(&c.From, "from", "", "replay from this RFC 3339 time (the broker's offset for that time in each partition); empty: from the beginning")
	fs.StringVar(&c.Offsets, "offsets", "", "explicit start offsets, comma-separated topic/partition=offset; they win over --from for those partitions")
	fs.IntVar(&c.BatchSize, "batch-size", 500, "most events applied together")
	fs.IntVar(&c.SortWindow, "sort-window", 50000, "events read ahead and sorted by event time before they are applied (progress is saved after each window); events further out of order are applied late")
	fs.DurationVar(&c.Step, "step", time.Hour, "event-time resolution: events and timers within this of each other are evaluated as of the same time")
	storeFlags(fs, c)
	clockFlag(fs, c)
}

// replayFlags: segflow replay.
func replayFlags(fs *flag.FlagSet, c *config) {
	readFlags(fs, c)
	fs.StringVar(&c.Changes, "changes", "drop", "profile.changed of the replay: drop (no trigger ever sees them) or backfill (published marked backfill; the trigger service records its decisions as suppressed with reason backfill)")
	fs.StringVar(&c.Into, "into", "", "build into this fresh namespace (key prefix, e.g. sf2) instead of in place in the live one")
	fs.BoolVar(&c.Switch, "switch", false, "with --into: once caught up, switch the live namespace to it")
	fs.BoolVar(&c.Fresh, "fresh", false, "start over instead of resuming an unfinished replay into the same namespace")
	fs.BoolVar(&c.Bulk, "bulk", false, "write the events without evaluating them in event time, then evaluate every customer once: the same profiles, several times faster, no changes of the past (needs --changes drop)")
}

// verifyFlags: segflow verify.
func verifyFlags(fs *flag.FlagSet, c *config) {
	readFlags(fs, c)
	fs.BoolVar(&c.Bulk, "bulk", true, "write the events without evaluating them in event time, then evaluate every customer once: the same profiles, several times faster")
	fs.StringVar(&c.Against, "against", "", "namespace to compare with; empty: the live one")
	fs.StringVar(&c.Scratch, "scratch", "sf-verify", "scratch namespace the profiles are rebuilt in")
	fs.BoolVar(&c.Keep, "keep", false, "keep the scratch namespace after comparing")
}
