package view

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// Views keeps a view of each profile namespace it is asked for — the live
// one, and the one a switch makes live — each loaded from the store once and
// then following the summaries topic, as long as Run runs. It is safe for
// concurrent use.
type Views struct {
	Brokers []string
	// Security is how to connect to Brokers (TLS, SASL); nil is plaintext.
	Security *stream.Security
	// Store is the profile store; a namespace's view loads Store.In(ns) and
	// takes its NES configuration.
	Store *profile.Store
	Log   *zap.Logger
	// Now is the clock predictions are made at. Default time.Now.
	Now func() time.Time
	// PredictEvery is how often each view's predictions are refreshed
	// with the store's model (profile.Store.Models), besides at once when
	// the model changes. Default DefaultPredictEvery.
	PredictEvery time.Duration

	mu      sync.Mutex
	views   map[string]*loading
	started chan string // namespaces to load and follow
}

// loading is a view that is ready once done is closed.
type loading struct {
	view *View
	err  error
	done chan struct{}
}

// Run loads and follows the namespaces asked for until ctx ends, and
// returns the first error that stops one.
func (vs *Views) Run(ctx context.Context) error {
	started := vs.init()
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the wait: the other followers stop with the first that fails
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case ns := <-started:
			wg.Go(func() {
				if err := vs.follow(ctx, ns); err != nil && ctx.Err() == nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
	}
}

func (vs *Views) follow(ctx context.Context, ns string) error {
	vs.mu.Lock()
	l := vs.views[ns]
	vs.mu.Unlock()
	f := &Follower{Brokers: vs.Brokers, Security: vs.Security, Put: Of(ns, l.view), Log: vs.Log}
	from, err := stream.EndOffsets(ctx, vs.Brokers, vs.Security, event.TopicSummaries)
	if err == nil {
		err = Load(ctx, vs.Store.In(ns), l.view)
	}
	l.err = err
	close(l.done)
	if err != nil {
		return err
	}
	if vs.Log != nil {
		vs.Log.Info("population view loaded", zap.String("namespace", ns), zap.Int("customers", l.view.Len()))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { vs.predict(ctx, ns, l.view) })
	return f.Run(ctx, from)
}

// DefaultPredictEvery is how often Views refreshes predictions by
// default: a refresh costs a few seconds of a core at 1M customers.
const DefaultPredictEvery = 5 * time.Minute

// predict refreshes the predictions of v, the view of namespace ns, until
// ctx ends: at once, whenever the store's model changes (or is gone), and
// every PredictEvery.
func (vs *Views) predict(ctx context.Context, ns string, v *View) {
	models := vs.Store.Models()
	if models == nil {
		return
	}
	every, now := vs.PredictEvery, vs.Now
	if every <= 0 {
		every = DefaultPredictEvery
	}
	if now == nil {
		now = time.Now
	}
	tick := time.NewTicker(min(every, 10*time.Second))
	defer tick.Stop()
	var held string    // the model version predicted with
	var last time.Time // when, by the wall clock
	for {
		m, ok := models.Model()
		switch {
		case !ok && held != "":
			v.Unpredict()
			held = ""
		case ok && (m.Version() != held || time.Since(last) >= every):
			t0 := time.Now()
			v.Predict(m, now(), vs.Store.Currency())
			held, last = m.Version(), t0
			if vs.Log != nil {
				vs.Log.Debug("predictions refreshed", zap.String("namespace", ns), zap.String("model", held), zap.Duration("took", time.Since(t0)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// init makes the queue of namespaces to load, once.
func (vs *Views) init() chan string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.started == nil {
		vs.started = make(chan string, 64)
		vs.views = map[string]*loading{}
	}
	return vs.started
}

// Of returns the view of namespace ns, waiting for it to load the first time
// it is asked for (which Run does).
func (vs *Views) Of(ctx context.Context, ns string) (*View, error) {
	started := vs.init()
	vs.mu.Lock()
	l, ok := vs.views[ns]
	if !ok {
		l = &loading{view: NewFor(vs.Store), done: make(chan struct{})}
		vs.views[ns] = l
	}
	vs.mu.Unlock()
	if !ok {
		started <- ns // buffered: namespaces are few
	}
	select {
	case <-l.done:
		return l.view, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// FromStore is a source of views loaded from the store afresh on every ask:
// exact and simple, and as costly as a scan of every profile, so for tests
// and tools, never for serving.
type FromStore struct {
	Store *profile.Store
	// Now is the clock predictions are made at. Default time.Now.
	Now func() time.Time
}

// Of loads a view of namespace ns, with the predictions of the store's
// model (if it has one) as of now.
func (fs FromStore) Of(ctx context.Context, ns string) (*View, error) {
	v := NewFor(fs.Store)
	if err := Load(ctx, fs.Store.In(ns), v); err != nil {
		return v, err
	}
	if models := fs.Store.Models(); models != nil {
		if m, ok := models.Model(); ok {
			now := fs.Now
			if now == nil {
				now = time.Now
			}
			v.Predict(m, now(), fs.Store.Currency())
		}
	}
	return v, nil
}
