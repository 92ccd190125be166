package fitting

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/predict"
	"github.com/segflow/segflow/pkg/profile"
)

// Current is the model of the live namespace, held in memory: what a
// profile store predicts with (it is a profile.Models).
type Current struct {
	rdb redis.UniversalClient
	def string // the namespace when none was switched to
	cur atomic.Pointer[loaded]
}

type loaded struct{ model predict.Model }

var _ profile.Models = (*Current)(nil)

// NewCurrent returns the holder of the model of the live namespace (def if
// none was switched to). It holds none until Load.
func NewCurrent(rdb redis.UniversalClient, def string) *Current {
	return &Current{rdb: rdb, def: def}
}

// Model returns the model held, false if none.
func (c *Current) Model() (predict.Model, bool) {
	l := c.cur.Load()
	if l == nil {
		return predict.Model{}, false
	}
	return l.model, true
}

// Load reads the live namespace's stored model; without one, it holds none.
func (c *Current) Load(ctx context.Context) error {
	ns, err := profile.LiveNamespace(ctx, c.rdb, c.def)
	if err != nil {
		return err
	}
	m, ok, err := Load(ctx, c.rdb, ns)
	if err != nil {
		return err
	}
	if !ok {
		c.cur.Store(nil)
		return nil
	}
	c.set(m)
	return nil
}

func (c *Current) set(m predict.Model) {
	c.cur.Store(&loaded{model: m})
}

// Run reloads the model every interval until ctx is done, so that a fit
// made elsewhere (segflow fit, another updater) or a namespace switch
// reaches this process; a failed read keeps the model held.
func (c *Current) Run(ctx context.Context, every time.Duration, log *zap.Logger) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		before, _ := c.Model()
		if err := c.Load(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("reload the model", zap.Error(err))
			}
			continue
		}
		if after, ok := c.Model(); ok && after.Version() != before.Version() {
			log.Info("model loaded", zap.String("model", after.Version()))
		}
	}
}
