package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// demoCampaigns is the example campaigns file of the repository, which
// --demo runs when --campaigns is not given; demoWaterfall the example
// waterfall, which it evaluates when --waterfall is not given and the file
// is there.
const (
	demoCampaigns = "deploy/campaigns.yaml"
	demoWaterfall = "deploy/waterfall.yaml"
)

// demoDefaults fills in what --demo sets unless given: the clock, the
// campaigns and the waterfall.
func (c *config) demoDefaults() error {
	if !c.Demo {
		return nil
	}
	if c.Currency != demo.Currency {
		return fmt.Errorf("--demo: the sample is in %s, not --currency %s", demo.Currency, c.Currency)
	}
	if c.Now == "" {
		c.Now = demo.Clock.Format(time.RFC3339)
	}
	if c.Campaigns == "" {
		if _, err := os.Stat(demoCampaigns); err != nil {
			return fmt.Errorf("--demo runs the example campaigns of %s, not found here (run it from the repository, or give --campaigns): %w", demoCampaigns, err)
		}
		c.Campaigns = demoCampaigns
	}
	if c.Waterfall == "" {
		if _, err := os.Stat(demoWaterfall); err == nil {
			c.Waterfall = demoWaterfall
		}
	}
	return nil
}

// demoLoader loads the sample before the profile-updater starts (see package
// demo): the updater waits for ready, and /readyz answers 503 until then.
type demoLoader struct {
	cfg   demo.Config
	rdb   redis.UniversalClient
	log   *zap.Logger
	ready chan struct{}
	done  atomic.Bool
}

func newDemoLoader(brokers []string, sec *stream.Security, store *profile.Store, out stream.Producer, rdb redis.UniversalClient, log *zap.Logger) *demoLoader {
	log = log.Named("demo")
	return &demoLoader{
		cfg: demo.Config{Brokers: brokers, Security: sec, Store: store, Out: out, Log: log},
		rdb: rdb, log: log, ready: make(chan struct{}),
	}
}

// run loads the sample, then waits until ctx is cancelled: a component of
// the process's group.
func (d *demoLoader) run(ctx context.Context) error {
	d.log.Info("loading the CDNOW sample in event time; the profile-updater starts once it is loaded")
	start := time.Now()
	cfg := d.cfg
	ns, err := profile.LiveNamespace(ctx, d.rdb, cfg.Store.Prefix())
	if err != nil {
		return err
	}
	cfg.Store = cfg.Store.In(ns)
	res, err := demo.Load(ctx, cfg, d.rdb)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	if res.Loaded {
		d.log.Info("the CDNOW sample is loaded already")
	} else {
		d.log.Info("CDNOW sample loaded", zap.Int("orders", res.Orders.Written), zap.Int("consents", res.Consents),
			zap.Int64("profile_changes", res.Replay.Changes), zap.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	d.done.Store(true)
	close(d.ready)
	<-ctx.Done()
	return nil
}

// check is the readiness check of the load.
func (d *demoLoader) check(context.Context) error {
	if !d.done.Load() {
		return errors.New("loading the demo sample")
	}
	return nil
}

// after returns run, started once the sample is loaded.
func (d *demoLoader) after(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-d.ready:
			return run(ctx)
		case <-ctx.Done():
			return nil
		}
	}
}
