package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/dashboard"
	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/embedded"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/fitting"
	"github.com/segflow/segflow/pkg/health"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/supervise"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/updater"
	"github.com/segflow/segflow/pkg/view"
	"github.com/segflow/segflow/pkg/waterfall"
	"github.com/segflow/segflow/pkg/webhook"
)

// shutdownTimeout bounds the drain of in-flight requests at shutdown.
const shutdownTimeout = 20 * time.Second

// serve runs the services of cmd until ctx is cancelled or one of them fails,
// then shuts down gracefully: stop accepting requests, finish those in flight,
// flush Kafka. It returns the first failure, after stopping every service.
func serve(ctx context.Context, cmd string, cfg *config) error {
	log, err := newLogger(cfg, os.Stderr)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr
	log.Info("starting", zap.String("command", cmd), zap.Stringer("config", cfg))

	brokers, redisAddr := cfg.brokers(), cfg.RedisAddr
	if len(brokers) > 0 {
		if err := checkBrokers(ctx, cfg.kafkaDialer(), brokers, log); err != nil {
			return err
		}
	}
	if cfg.KafkaBrokers == "" {
		k, err := embedded.StartKafka(cfg.EmbeddedKafkaAddr)
		if err != nil {
			return err
		}
		defer k.Close()
		brokers = k.Brokers()
		log.Info("embedded kafka started", zap.Strings("brokers", brokers))
	}
	if redisAddr == "" {
		r, err := embedded.StartRedis(cfg.EmbeddedRedisAddr)
		if err != nil {
			return err
		}
		defer r.Close()
		redisAddr = r.Addr()
		log.Info("embedded redis started", zap.String("addr", redisAddr))
	}
	if cfg.embedded() && cfg.WriteKeys == "web="+devWriteKey {
		log.Info("embedded mode: collector write key is " + devWriteKey)
	}

	rdb, err := keyspace.Connect(ctx, cfg.redis(redisAddr))
	if err != nil {
		return err
	}
	defer rdb.Close()
	_, cluster := rdb.(*redis.ClusterClient)
	log.Info("redis client", zap.Bool("cluster", cluster))
	if err := ensureTopics(ctx, brokers, cfg); err != nil {
		return err
	}
	sec := cfg.transport.kafka
	writer := stream.NewWriter(brokers, sec, cfg.WriteTimeout)
	writer.BatchBytes = stream.BatchBytes(cfg.MaxMessage)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lag, err := stream.NewLagMetrics(reg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	checks := map[string]health.Check{
		"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"kafka": func(ctx context.Context) error { return stream.Ping(ctx, brokers, sec) },
	}

	var g supervise.Group
	if cmd == "run" || cmd == "collector" {
		keys, err := cfg.writeKeys()
		if err != nil {
			return err
		}
		col, err := collector.New(collector.Config{
			WriteKeys:       keys,
			MaxBodyBytes:    cfg.MaxBodyBytes,
			MaxEvents:       cfg.MaxEvents,
			MaxMessageBytes: cfg.MaxMessage,
			DedupWindow:     cfg.DedupWindow,
			MaxFuture:       cfg.MaxFuture,
			WriteTimeout:    cfg.WriteTimeout,
			DefaultCurrency: cfg.Currency,
			AllowedOrigins:  splitList(cfg.CORSOrigins),
		}, writer, rdb, log, reg)
		if err != nil {
			return err
		}
		col.Register(mux)
	}
	// The updater and the trigger service follow the live namespace, so that
	// a rebuilt one (segflow replay --into NS --switch) goes live without a
	// restart.
	var live *profile.Live
	var store *profile.Store
	var models *fitting.Current
	if cmd == "run" || cmd == "profile-updater" || cmd == "trigger" || cmd == "api" {
		pcfg, err := storeConfig(cfg)
		if err != nil {
			return err
		}
		// Every store predicts with the live namespace's fitted model,
		// reloaded every minute (segflow fit, the updater's refits).
		models = fitting.NewCurrent(rdb, pcfg.Prefix)
		if err := models.Load(ctx); err != nil {
			return err
		}
		g.Add("model", func(ctx context.Context) error { return models.Run(ctx, time.Minute, log.Named("model")) })
		pcfg.Models = models
		live, store = profile.NewLive(rdb, pcfg), profile.New(rdb, pcfg)
	}
	now, err := cfg.clock()
	if err != nil {
		return err
	}
	serveAPIs := cmd == "api" || cmd == "run" && cfg.APITokens != ""
	// With --demo the services run on the demo's clock, which the sample's
	// load moves week by week; the profile-updater and the trigger service
	// start once it is set where the load starts.
	afterDemo := func(run func(context.Context) error) func(context.Context) error { return run }
	if cmd == "run" && cfg.Demo {
		dcfg := demo.Config{Brokers: brokers, Security: sec, Store: store, Out: writer, Clock: demo.NewClock(now()), Until: now(), UpdaterGroup: cfg.ConsumerGroup}
		if cfg.Campaigns != "" {
			dcfg.TriggerGroup = cfg.TriggerGroup
		}
		if serveAPIs {
			dcfg.IndexGroup = cfg.IndexGroup
		}
		d := newDemoLoader(dcfg, rdb, log)
		g.Add("demo", d.run)
		checks["demo"] = d.check
		afterDemo = d.after
		now = dcfg.Clock.Now
	}
	// The population view of each namespace, loaded when first asked for:
	// by the read API, and by the trigger service when a broadcast opens.
	var views *view.Views
	if store != nil {
		views = &view.Views{Brokers: brokers, Security: sec, Store: store, Now: now, Log: log.Named("view")}
		g.Add("population views", views.Run)
	}
	if cmd == "run" || cmd == "profile-updater" {
		up, err := updater.New(updater.Config{Brokers: brokers, Security: sec, GroupID: cfg.ConsumerGroup, SessionTimeout: cfg.SessionTimeout, Now: now, Namespace: live.Store, Lag: lag, RescoreEvery: cfg.RescoreEvery}, store, writer, log, reg)
		if err != nil {
			return err
		}
		g.Add("profile-updater", afterDemo(up.Run))
		g.Add("rescore", afterDemo(up.Rescores))
		refit := &fitting.Refitter{Redis: rdb, Store: live.Store, Every: cfg.FitEvery, Unit: cfg.FitUnit, Now: now, Current: models, Log: log.Named("refit")}
		g.Add("refit", refit.Run)
	}
	if cmd == "run" || cmd == "profile-updater" || cmd == "trigger" {
		// The populations the live stores score against (loaded from Redis
		// on first use) follow the others' evaluations and erasures, from
		// the end of the summaries topic before any is loaded.
		from, err := stream.EndOffsets(ctx, brokers, cfg.transport.kafka, event.TopicSummaries)
		if err != nil {
			return err
		}
		f := &view.Follower{Brokers: brokers, Security: cfg.transport.kafka, Put: func(ns string, s profile.Summary) { live.Put(ns, s) }, Population: true, Log: log.Named("population")}
		g.Add("population", func(ctx context.Context) error { return f.Run(ctx, from) })
	}
	if (cmd == "run" || cmd == "trigger") && cfg.Campaigns != "" {
		camps, err := campaign.Load(cfg.Campaigns)
		if err != nil {
			return fmt.Errorf("--campaigns: %w", err)
		}
		engine := trigger.NewEngine(camps, rdb, live, writer)
		if cfg.Journeys != "" {
			js, err := journey.Load(cfg.Journeys, camps)
			if err != nil {
				return fmt.Errorf("--journeys: %w", err)
			}
			engine.SetJourneys(js)
			log.Info("journeys loaded", zap.Int("journeys", len(js.Journeys)), zap.String("file", cfg.Journeys))
		}
		// Broadcasts are decided by the same engine, between batches.
		runner := &broadcast.Runner{Store: broadcast.NewStore(rdb), Decider: engine, Audience: api.Audiences{RDB: rdb, Store: store, Views: views}, Lease: cfg.BroadcastLease, Log: log.Named("broadcast")}
		svc, err := trigger.NewService(trigger.Config{Brokers: brokers, Security: sec, GroupID: cfg.TriggerGroup, SessionTimeout: cfg.SessionTimeout, Now: now, CampaignsFile: cfg.Campaigns, JourneysFile: cfg.Journeys, Lag: lag, Broadcasts: runner}, engine, log, reg)
		if err != nil {
			return err
		}
		log.Info("campaigns loaded", zap.Int("campaigns", len(camps.Campaigns)), zap.String("file", cfg.Campaigns))
		g.Add("trigger", afterDemo(svc.Run))
	}
	if (cmd == "run" || cmd == "trigger") && cfg.WebhookURL != "" {
		d, err := webhook.New(webhook.Config{Brokers: brokers, Security: sec, URL: cfg.WebhookURL, Secret: cfg.WebhookSecret, Topic: trigger.TopicTriggers}, writer, log)
		if err != nil {
			return err
		}
		g.Add("webhook", d.Run)
	}

	if serveAPIs {
		indexer, err := serveAPI(mux, cfg, rdb, store, views, brokers, writer, now, log)
		if err != nil {
			return err
		}
		indexer.Lag = lag
		g.Add("index", indexer.Run)
	} else if cmd == "run" {
		log.Info("read API and dashboard off: no --api-tokens")
	}

	health.Register(mux, reg, checks, log)
	handler, err := health.Recover(mux, log, reg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	g.Add("http server", supervise.Server(srv, shutdownTimeout))
	log.Info("serving", zap.String("addr", cfg.HTTPAddr))

	// Consumers stop when ctx is cancelled, after committing what they
	// applied; the first component to fail stops the others.
	err = g.Run(ctx, log)
	if cerr := writer.Close(); cerr != nil {
		log.Warn("kafka writer close", zap.Error(cerr))
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// serveAPI registers the read API and the dashboard on mux and returns the
// segment indexer to run.
func serveAPI(mux *http.ServeMux, cfg *config, rdb redis.UniversalClient, store *profile.Store, views *view.Views, brokers []string, writer *kafka.Writer, now func() time.Time, log *zap.Logger) (*index.Indexer, error) {
	tokens, err := cfg.apiTokens()
	if err != nil {
		return nil, err
	}
	var names func() []string
	if cfg.Campaigns != "" {
		names = func() []string {
			camps, err := campaign.Load(cfg.Campaigns)
			if err != nil {
				log.Warn("campaigns file unreadable; reporting no campaigns", zap.Error(err))
				return nil
			}
			var out []string
			for _, c := range camps.Campaigns {
				out = append(out, c.Name)
			}
			return out
		}
	}
	var journeys func() *journey.Config
	if cfg.Journeys != "" {
		journeys = func() *journey.Config {
			camps, err := campaign.Load(cfg.Campaigns)
			if err == nil {
				var js *journey.Config
				if js, err = journey.Load(cfg.Journeys, camps); err == nil {
					return js
				}
			}
			log.Warn("journeys file unreadable; reporting no journeys", zap.Error(err))
			return nil
		}
	}
	ix := index.New(rdb, store.Prefix())
	a, err := api.New(api.Config{Tokens: tokens, Now: now, Campaigns: names, Journeys: journeys, Views: views}, rdb, store, ix, trigger.NewEngine(nil, rdb, store, nil), writer, log)
	if err != nil {
		return nil, err
	}
	a.Register(mux)
	dashboard.Register(mux)
	return &index.Indexer{Brokers: brokers, Security: cfg.transport.kafka, GroupID: cfg.IndexGroup, SessionTimeout: cfg.SessionTimeout, Index: ix, Erasures: privacy.New(rdb), DeadLetters: writer, Log: log.Named("index")}, nil
}

// brokerDialTimeout bounds the wait for a seed broker to answer at start-up.
const brokerDialTimeout = 3 * time.Second

// checkBrokers asks every seed broker at once which API versions it speaks,
// before anything starts, so that a wrong or unreachable --kafka-brokers
// fails within brokerDialTimeout, naming each address and why, instead of
// after the retries of the topics' creation. A Kafka request, not only a TCP
// connection: something else listening at the address (or a proxy that
// accepts every connection) is no broker. One seed that answers is enough
// (the client learns the cluster from it); those that do not are logged.
func checkBrokers(ctx context.Context, dialer *kafka.Dialer, brokers []string, log *zap.Logger) error {
	errs := make([]error, len(brokers))
	var wg sync.WaitGroup
	for i, b := range brokers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, brokerDialTimeout)
			defer cancel()
			conn, err := dialer.DialContext(ctx, "tcp", b)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", b, err)
				return
			}
			defer conn.Close()
			dl, _ := ctx.Deadline()
			_ = conn.SetDeadline(dl)
			if _, err := conn.ApiVersions(); err != nil {
				errs[i] = fmt.Errorf("%s: connected, but no Kafka answer: %w", b, err)
			}
		})
	}
	wg.Wait()
	var failed []string
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) == len(brokers) {
		return fmt.Errorf("--kafka-brokers: no broker answered within %s: %s", brokerDialTimeout, strings.Join(failed, "; "))
	}
	for _, f := range failed {
		log.Warn("a kafka seed broker does not answer; using the others", zap.String("error", f))
	}
	return nil
}

// ensureTopics creates segflow's topics, retrying while the cluster starts;
// the brokers denying segflow fails at once.
func ensureTopics(ctx context.Context, brokers []string, cfg *config) error {
	topics := cfg.transport.topics(cfg.Partitions)
	var err error
	for attempt := 0; attempt < 30; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = stream.EnsureTopics(tctx, brokers, cfg.transport.kafka, cfg.Replication, topics...)
		cancel()
		if err == nil || ctx.Err() != nil || stream.Denied(err) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("ensure topics on %s: %w", strings.Join(brokers, ","), err)
	}
	return nil
}

// newLogger returns the logger of cfg, writing to w.
func newLogger(cfg *config, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var zc zap.Config
	var enc zapcore.Encoder
	switch cfg.LogFormat {
	case "json":
		zc = zap.NewProductionConfig()
		enc = zapcore.NewJSONEncoder(zc.EncoderConfig)
	case "console":
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
		enc = zapcore.NewConsoleEncoder(zc.EncoderConfig)
	default:
		return nil, fmt.Errorf("--log-format must be json or console, not %q", cfg.LogFormat)
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	out := zapcore.Lock(zapcore.AddSync(w))
	log, err := zc.Build(zap.ErrorOutput(out), zap.WrapCore(func(zapcore.Core) zapcore.Core {
		core := zapcore.NewCore(enc, out, zc.Level)
		if zc.Sampling != nil {
			core = zapcore.NewSamplerWithOptions(core, time.Second, zc.Sampling.Initial, zc.Sampling.Thereafter)
		}
		return core
	}))
	if err != nil {
		return nil, err
	}
	// go-redis's own messages (a pool that failed to dial) come through the
	// logger too, at debug level: the errors they go with are reported where
	// they are returned. They carry addresses, never data.
	redis.SetLogger(redisLog{log.Named("redis")})
	return log, nil
}

// redisLog is go-redis's logger on a zap logger.
type redisLog struct{ log *zap.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// storeConfig is the profile store's configuration.
func storeConfig(cfg *config) (profile.Config, error) {
	rules, err := loadRules(cfg.TagRules)
	if err != nil {
		return profile.Config{}, err
	}
	wf, err := loadWaterfall(cfg.Waterfall)
	if err != nil {
		return profile.Config{}, err
	}
	return profile.Config{
		Window:    cfg.RFMWindow,
		NES:       nes.Config{DefaultCycle: cfg.DefaultCycle, MinCycle: cfg.MinCycle, MaxCycle: cfg.MaxCycle},
		Currency:  cfg.Currency,
		Rules:     rules,
		Waterfall: wf,
		AtRisk:    cfg.AtRisk,
	}, nil
}

// loadWaterfall compiles the waterfall of path; nil for none.
func loadWaterfall(path string) (*waterfall.Engine, error) {
	if path == "" {
		return nil, nil
	}
	c, err := waterfall.LoadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("--waterfall: %w", err)
	}
	e, err := waterfall.Compile(c)
	if err != nil {
		return nil, fmt.Errorf("--waterfall %s: %w", path, err)
	}
	return e, nil
}

// loadRules compiles the tag and tier rules of path, or the defaults.
func loadRules(path string) (*tag.Engine, error) {
	rc := tag.DefaultConfig()
	if path != "" {
		var err error
		if rc, err = tag.LoadConfig(path); err != nil {
			return nil, fmt.Errorf("--tag-rules: %w", err)
		}
	}
	e, err := tag.Compile(rc)
	if err != nil {
		return nil, fmt.Errorf("tag rules: %w", err)
	}
	return e, nil
}
