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
)

// demoCampaigns is the example campaigns file of the repository, which
// --demo runs when --campaigns is not given; demoWaterfall the example
// waterfall, which it evaluates when --waterfall is not given and the file
// is there.
const (
	demoCampaigns = "deploy/campaigns.yaml"
	demoWaterfall = "deploy/waterfall.yaml"
)

// demoDefaults fills in what --demo sets unless given: the clock the load
// leaves the pipeline at, the campaigns and the waterfall.
func (c *config) demoDefaults() error {
	if !c.Demo {
		return nil
	}
	if c.Currency != demo.Currency {
		return fmt.Errorf("--demo: the sample is in %s, not --currency %s", demo.Currency, c.Currency)
	}
	if c.Now == "" {
		c.Now = demo.Final.Format(time.RFC3339)
	} else if t, err := time.Parse(time.RFC3339, c.Now); err == nil && t.Before(demo.End) {
		return fmt.Errorf("--demo: --now %s is before the sample's end, %s: its later orders would be in the future", c.Now, demo.End.Format(time.RFC3339))
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

// demoLoader loads the sample into the running pipeline (see package demo).
// The profile-updater and the trigger service start once it has set the
// clock where the load starts; /readyz answers 503 until the sample is
// loaded.
type demoLoader struct {
	cfg   demo.Config
	rdb   redis.UniversalClient
	log   *zap.Logger
	ready chan struct{} // closed once the clock is set
	done  atomic.Bool
}

// newDemoLoader returns the loader of cfg, whose Clock the services are to
// run on.
func newDemoLoader(cfg demo.Config, rdb redis.UniversalClient, log *zap.Logger) *demoLoader {
	log = log.Named("demo")
	cfg.Log = log
	return &demoLoader{cfg: cfg, rdb: rdb, log: log, ready: make(chan struct{})}
}

// run loads the sample, then waits until ctx is cancelled: a component of
// the process's group.
func (d *demoLoader) run(ctx context.Context) error {
	start := time.Now()
	cfg := d.cfg
	ns, err := profile.LiveNamespace(ctx, d.rdb, cfg.Store.Prefix())
	if err != nil {
		return err
	}
	cfg.Store = cfg.Store.In(ns)
	l, err := demo.Prepare(ctx, cfg, d.rdb)
	if err != nil {
		return err
	}
	close(d.ready)
	if l.Loaded() {
		d.log.Info("the CDNOW sample is loaded already")
	} else {
		d.log.Info("loading the CDNOW sample week by week, the clock following the weeks", zap.Int("weeks", l.Weeks()))
		res, err := l.Run(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		d.log.Info("CDNOW sample loaded", zap.Int("weeks", res.Weeks), zap.Int("orders", res.Orders), zap.Int("consents", res.Consents),
			zap.String("clock", cfg.Clock.Now().Format(time.RFC3339)), zap.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	d.done.Store(true)
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

// after returns run, started once the clock is set.
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
