package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
)

// errDiffers is returned by a command whose answer is "no": verify found
// differences. main exits non-zero without printing it again.
var errDiffers = errors.New("differences found")

// connect returns the Redis client and Kafka brokers of an engineer's
// command, which always works on a running deployment, never an embedded one.
func connect(ctx context.Context, cfg *config) (redis.UniversalClient, []string, error) {
	if cfg.KafkaBrokers == "" || cfg.RedisAddr == "" {
		return nil, nil, errors.New("--kafka-brokers and --redis-addr are required (SEGFLOW_KAFKA_BROKERS, SEGFLOW_REDIS_ADDR)")
	}
	rdb, err := keyspace.Connect(ctx, cfg.redis(cfg.RedisAddr))
	if err != nil {
		return nil, nil, err
	}
	return rdb, cfg.brokers(), nil
}

// importOrders runs `segflow import orders FILE`.
func importOrders(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "orders" {
		return errors.New("usage: segflow import orders [flags] FILE")
	}
	cfg, err := parseConfig("import", args[1:])
	if err != nil {
		return err
	}
	if cfg.set.NArg() != 1 {
		return errors.New("usage: segflow import orders [flags] FILE")
	}
	path := cfg.set.Arg(0)
	format := cfg.ImportFormat
	if format == "" {
		format = importer.JSONLines
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = importer.CSV
		}
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return fmt.Errorf("--time-zone: %w", err)
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr
	rdb, brokers, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ensureTopics(ctx, brokers, cfg); err != nil {
		return err
	}
	w := stream.NewWriter(brokers, cfg.transport.kafka, cfg.WriteTimeout)
	defer w.Close()
	im, err := importer.New(importer.Config{Source: cfg.ImportSource, Currency: cfg.Currency, Location: loc, MaxFuture: cfg.MaxFuture}, w, rdb)
	if err != nil {
		return err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newProgress(stderr, log.Named("import"), size, "bytes")
	counted := &countingReader{r: f}
	im.Progress = func(int) { bar.set(counted.n) }
	sum, err := im.Import(ctx, counted, format)
	bar.finish()
	for _, re := range sum.Errors {
		fmt.Fprintf(stdout, "%s:%v\n", path, re)
	}
	fmt.Fprintf(stdout, "%s: %v\n", path, sum)
	log.Info("import done", zap.Int("rows", sum.Rows), zap.Int("written", sum.Written), zap.Int("skipped", sum.Skipped), zap.Int("errors", len(sum.Errors)))
	if err == nil && len(sum.Errors) > 0 {
		err = fmt.Errorf("%w: %d of %d", errRowsFailed, len(sum.Errors), sum.Rows)
	}
	return err
}

// errRowsFailed is returned by an import some of whose rows failed, after
// the rest were written: the command exits 1, as verify does when profiles
// differ, so that a script notices.
var errRowsFailed = errors.New("rows failed")

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// replayConfig is the replay configuration of the flags.
func replayConfig(cfg *config) (replay.Config, error) {
	rc := replay.Config{
		Topics: splitList(cfg.Topics), BatchSize: cfg.BatchSize, SortWindow: cfg.SortWindow, Step: cfg.Step,
		Changes: cfg.Changes, Switch: cfg.Switch, Fresh: cfg.Fresh, Bulk: cfg.Bulk,
	}
	if cfg.From != "" {
		t, err := time.Parse(time.RFC3339, cfg.From)
		if err != nil {
			return rc, fmt.Errorf("--from: %w", err)
		}
		rc.From = t
	}
	if cfg.Offsets != "" {
		rc.Offsets = map[replay.Partition]int64{}
		for _, kv := range splitList(cfg.Offsets) {
			part, off, ok := strings.Cut(kv, "=")
			pt, err := replay.ParsePartition(part)
			if err != nil || !ok {
				return rc, fmt.Errorf("--offsets: %q is not topic/partition=offset", kv)
			}
			n, err := strconv.ParseInt(off, 10, 64)
			if err != nil || n < 0 {
				return rc, fmt.Errorf("--offsets: %q is not topic/partition=offset", kv)
			}
			rc.Offsets[pt] = n
		}
	}
	now, err := cfg.clock()
	if err != nil {
		return rc, err
	}
	rc.Now = now
	return rc, nil
}

// tool is what the replay and verify commands share: logger, Redis, brokers
// and the profile store of the default namespace.
type tool struct {
	cfg     *config
	log     *zap.Logger
	rdb     redis.UniversalClient
	brokers []string
	base    *profile.Store
}

func newTool(ctx context.Context, name string, args []string) (*tool, error) {
	cfg, err := parseConfig(name, args)
	if err != nil {
		return nil, err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return nil, err
	}
	rdb, brokers, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pcfg, err := storeConfig(cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &tool{cfg: cfg, log: log, rdb: rdb, brokers: brokers, base: profile.New(rdb, pcfg)}, nil
}

func (t *tool) close() {
	t.rdb.Close()
	_ = t.log.Sync()
}

// run replays into store with a progress bar or progress logs.
func (t *tool) run(ctx context.Context, rc replay.Config, store *profile.Store, out replay.Producer, stderr io.Writer) (replay.Result, error) {
	rc.Brokers, rc.Security = t.brokers, t.cfg.transport.kafka
	r, err := replay.New(rc, store, t.rdb, out, t.log)
	if err != nil {
		return replay.Result{}, err
	}
	bar := newProgress(stderr, t.log.Named("replay"), 0, "events")
	r.Progress = func(done, total int64) {
		if total != bar.total {
			bar.setTotal(total)
		}
		bar.set(done)
	}
	res, err := r.Run(ctx)
	bar.finish()
	return res, err
}

// replayCmd runs `segflow replay` and `segflow replay drop NAMESPACE`.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "drop" {
		return dropCmd(ctx, args[1:], stdout)
	}
	t, err := newTool(ctx, "replay", args)
	if err != nil {
		return err
	}
	defer t.close()
	rc, err := replayConfig(t.cfg)
	if err != nil {
		return err
	}
	live, err := profile.LiveNamespace(ctx, t.rdb, t.base.Prefix())
	if err != nil {
		return err
	}
	ns := t.cfg.Into
	switch {
	case ns == "":
		ns, rc.InPlace = live, true
		if rc.Switch {
			return errors.New("--switch needs --into: a replay in place is live already")
		}
	case ns == live:
		return fmt.Errorf("--into %s: that is the live namespace; leave --into out to replay in place", ns)
	}
	if err := ensureTopics(ctx, t.brokers, t.cfg); err != nil {
		return err
	}
	w := stream.NewWriter(t.brokers, t.cfg.transport.kafka, t.cfg.WriteTimeout)
	defer w.Close()
	res, err := t.run(ctx, rc, t.base.In(ns), w, stderr)
	fmt.Fprintf(stdout, "replay into %s: %d read, %d applied, %d of erased customers dropped, %d skipped, %d timers, %d profile changes (%s), %d dead letters re-published (%d re-published before), %d still invalid\n",
		ns, res.Read, res.Applied, res.Erased, res.Skipped, res.Timers, res.Changes, rc.Changes, res.Revived, res.Republished, res.Invalid)
	if res.Switched {
		fmt.Fprintf(stdout, "%s is live; %s stays until `segflow replay drop %s`\n", ns, live, live)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("replay stopped; the same command resumes it: %w", err)
	}
	return err
}

// dropCmd runs `segflow replay drop NAMESPACE`.
func dropCmd(ctx context.Context, args []string, stdout io.Writer) error {
	t, err := newTool(ctx, "replay", args)
	if err != nil {
		return err
	}
	defer t.close()
	if t.cfg.set.NArg() != 1 {
		return errors.New("usage: segflow replay drop [flags] NAMESPACE")
	}
	ns := t.cfg.set.Arg(0)
	n, err := profile.DropNamespace(ctx, t.rdb, ns, t.base.Prefix())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dropped %d keys of namespace %s\n", n, ns)
	return nil
}

// verifyCmd runs `segflow verify`: rebuild the profiles from the topics in a
// scratch namespace and compare them with the live (or another) namespace.
func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, err := newTool(ctx, "verify", args)
	if err != nil {
		return err
	}
	defer t.close()
	rc, err := replayConfig(t.cfg)
	if err != nil {
		return err
	}
	rc.Changes, rc.Switch, rc.Fresh = replay.ChangesDrop, false, true
	against := t.cfg.Against
	if against == "" {
		if against, err = profile.LiveNamespace(ctx, t.rdb, t.base.Prefix()); err != nil {
			return err
		}
	}
	scratch := t.cfg.Scratch
	if scratch == against {
		return fmt.Errorf("--scratch %s is the namespace to verify", scratch)
	}
	if _, err := profile.DropNamespace(ctx, t.rdb, scratch, t.base.Prefix()); err != nil {
		return err
	}
	if _, err := t.run(ctx, rc, t.base.In(scratch), nil, stderr); err != nil {
		return err
	}
	T := rc.Now()
	diffs, n, err := replay.Compare(ctx, t.base.In(against), t.base.In(scratch), T)
	if err != nil {
		return err
	}
	customers := map[string]bool{}
	for _, d := range diffs {
		customers[d.Customer] = true
		fmt.Fprintf(stdout, "%s %s: %s=%s rebuilt=%s\n", d.Customer, d.Field, against, d.A, d.B)
	}
	fmt.Fprintf(stdout, "verify %s as of %s: %d customers compared, %d differ (%d fields)\n", against, T.UTC().Format(time.RFC3339), n, len(customers), len(diffs))
	if !t.cfg.Keep {
		if _, err := profile.DropNamespace(ctx, t.rdb, scratch, t.base.Prefix()); err != nil {
			return err
		}
	}
	if len(diffs) > 0 {
		return errDiffers
	}
	return nil
}
