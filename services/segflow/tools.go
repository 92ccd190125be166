package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/fitting"
	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/replay"
	"github.com/segflow/segflow/pkg/stream"
)

// errDiffers is returned by a command whose answer is "no": verify found
// differences. main exits non-zero without printing it again.
var errDiffers = errors.New("differences found")

// toolProbeTimeout bounds an engineer's command's wait for Redis to answer.
const toolProbeTimeout = 5 * time.Second

// connect returns the Redis client and Kafka brokers of an engineer's
// command, which always works on a running deployment, never an embedded one
// (validate requires the addresses). A command without Kafka flags gets no
// brokers.
func connect(ctx context.Context, cfg *config, log *zap.Logger) (redis.UniversalClient, []string, error) {
	brokers := cfg.brokers()
	if len(brokers) > 0 {
		if err := checkBrokers(ctx, cfg.kafkaDialer(), brokers, log); err != nil {
			return nil, nil, err
		}
	}
	// An engineer's command is run by hand on a deployment that is up: a
	// Redis that does not answer within seconds is an error to say at once,
	// where a service waits longer for one starting beside it.
	rc := cfg.redis(cfg.RedisAddr)
	rc.ProbeTimeout = toolProbeTimeout
	rdb, err := keyspace.Connect(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	return rdb, brokers, nil
}

// checkNamespace returns an error unless ns is a namespace that holds or held
// profiles: the configured one, the live one, or one a replay built.
func checkNamespace(ctx context.Context, rdb redis.UniversalClient, flagName, ns, def string) error {
	all, err := profile.Namespaces(ctx, rdb, def)
	if err != nil {
		return err
	}
	if !slices.Contains(all, ns) {
		return fmt.Errorf("%snamespace %s does not exist; the namespaces are %s", flagName, ns, strings.Join(all, ", "))
	}
	return nil
}

// importOrders runs `segflow import orders FILE`.
func importOrders(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "orders" {
		return errors.New("usage: segflow import orders [flags] FILE")
	}
	cfg, err := parseConfig("import orders", args[1:])
	if err != nil {
		return err
	}
	path := cfg.arg(0)
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
	con := newConsole(stderr)
	log, err := newLogger(cfg, con)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rdb, brokers, err := connect(ctx, cfg, log)
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
	// The importer reports after each batch, once Kafka has acknowledged
	// it: every row read so far is written, imported before, or failed.
	// The share of the file read tells how far the import is.
	bar := newProgress(con, log.Named("import"), "rows acknowledged")
	counted := &countingReader{r: f}
	im.Progress = func(rows int) {
		var share float64
		if size > 0 {
			share = float64(counted.n) / float64(size)
		}
		bar.set(int64(rows), 0, share)
	}
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
	con     *console
	cfg     *config
	log     *zap.Logger
	rdb     redis.UniversalClient
	brokers []string
	base    *profile.Store
}

func newTool(ctx context.Context, name string, args []string, stderr io.Writer) (*tool, error) {
	cfg, err := parseConfig(name, args)
	if err != nil {
		return nil, err
	}
	con := newConsole(stderr)
	log, err := newLogger(cfg, con)
	if err != nil {
		return nil, err
	}
	rdb, brokers, err := connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	pcfg, err := storeConfig(cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &tool{con: con, cfg: cfg, log: log, rdb: rdb, brokers: brokers, base: profile.New(rdb, pcfg)}, nil
}

func (t *tool) close() {
	t.rdb.Close()
	_ = t.log.Sync()
}

// run replays into store with a progress bar or progress logs.
func (t *tool) run(ctx context.Context, rc replay.Config, store *profile.Store, out replay.Producer) (replay.Result, error) {
	rc.Brokers, rc.Security = t.brokers, t.cfg.transport.kafka
	r, err := replay.New(rc, store, t.rdb, out, t.log)
	if err != nil {
		return replay.Result{}, err
	}
	bar := newProgress(t.con, t.log.Named("replay"), "events")
	r.Progress = func(done, total int64) {
		var share float64
		if total > 0 {
			share = float64(done) / float64(total)
		}
		bar.set(done, total, share)
	}
	res, err := r.Run(ctx)
	bar.finish()
	return res, err
}

// replayCmd runs `segflow replay` and `segflow replay drop NAMESPACE`.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "drop" {
		return dropCmd(ctx, args[1:], stdout, stderr)
	}
	t, err := newTool(ctx, "replay", args, stderr)
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
	case ns == live:
		return fmt.Errorf("--into %s: that is the live namespace; leave --into out to replay in place", ns)
	}
	if err := ensureTopics(ctx, t.brokers, t.cfg); err != nil {
		return err
	}
	w := stream.NewWriter(t.brokers, t.cfg.transport.kafka, t.cfg.WriteTimeout)
	defer w.Close()
	res, err := t.run(ctx, rc, t.base.In(ns), w)
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
func dropCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, err := newTool(ctx, "replay drop", args, stderr)
	if err != nil {
		return err
	}
	defer t.close()
	ns := t.cfg.arg(0)
	if err := checkNamespace(ctx, t.rdb, "", ns, t.base.Prefix()); err != nil {
		return err
	}
	n, err := profile.DropNamespace(ctx, t.rdb, ns, t.base.Prefix())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dropped %d keys of namespace %s\n", n, ns)
	return nil
}

// fitCmd runs `segflow fit`: fit the models on the live namespace as of
// --now and store them.
func fitCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, err := newTool(ctx, "fit", args, stderr)
	if err != nil {
		return err
	}
	defer t.close()
	ns, err := profile.LiveNamespace(ctx, t.rdb, t.base.Prefix())
	if err != nil {
		return err
	}
	now, err := t.cfg.clock()
	if err != nil {
		return err
	}
	m, err := fitting.Refit(ctx, t.rdb, t.base.In(ns), now(), t.cfg.FitUnit)
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	p, g := m.Purchases, m.Spend
	fmt.Fprintf(stdout, "model %s of namespace %s, fitted as of %s\n", m.Version(), ns, now().UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "BG/NBD: r=%.4g alpha=%.4g a=%.4g b=%.4g (unit %s) on %d customers, log-likelihood %.1f\n", p.R, p.Alpha, p.A, p.B, t.cfg.FitUnit, p.Customers, p.LogLikelihood)
	fmt.Fprintf(stdout, "Gamma-Gamma: p=%.4g q=%.4g gamma=%.4g on %d repeat customers, log-likelihood %.1f\n", g.P, g.Q, g.Gamma, g.Customers, g.LogLikelihood)
	return nil
}

// verifyCmd runs `segflow verify`: rebuild the profiles from the topics in a
// scratch namespace and compare them with the live (or another) namespace.
func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, err := newTool(ctx, "verify", args, stderr)
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
	} else if err := checkNamespace(ctx, t.rdb, "--against: ", against, t.base.Prefix()); err != nil {
		return err
	}
	scratch := t.cfg.Scratch
	if scratch == against {
		return fmt.Errorf("--scratch %s is the namespace to verify", scratch)
	}
	if _, err := profile.DropNamespace(ctx, t.rdb, scratch, t.base.Prefix()); err != nil {
		return err
	}
	if _, err := t.run(ctx, rc, t.base.In(scratch), nil); err != nil {
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
