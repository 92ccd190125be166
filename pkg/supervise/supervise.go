// Package supervise runs a process's components as one unit: each runs until
// its context is cancelled, and the first to fail, or to stop while the others
// run, stops all of them, so that a process is never left half alive. The
// caller exits non-zero with the error and the orchestrator restarts it.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// ErrStopped is the error of a component that returned nil before it was
// asked to stop.
var ErrStopped = errors.New("stopped on its own")

// Group is a set of named components run together. The zero value is empty
// and ready to use.
type Group struct {
	names []string
	runs  []func(context.Context) error
}

// Add adds a component: run starts it and blocks until ctx is cancelled, then
// stops it and returns nil; an error means the component failed.
func (g *Group) Add(name string, run func(ctx context.Context) error) {
	g.names = append(g.names, name)
	g.runs = append(g.runs, run)
}

// Run runs every component until ctx is cancelled or one fails, then cancels
// the others and waits for all of them to return. It returns the first
// failure, named after its component, or nil after a shutdown asked by ctx.
func (g *Group) Run(ctx context.Context, log *zap.Logger) error {
	eg, gctx := errgroup.WithContext(ctx)
	for i, run := range g.runs {
		name := g.names[i]
		eg.Go(func() error {
			err := run(gctx)
			if err == nil && gctx.Err() == nil {
				err = ErrStopped
			}
			if err != nil && gctx.Err() == nil {
				log.Error("component failed; stopping the others", zap.String("component", name), zap.Error(err))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

// Server returns a component serving srv: it listens until ctx is cancelled,
// then shuts down, letting requests in flight finish within timeout.
func Server(srv *http.Server, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case err := <-errc:
			return fmt.Errorf("listen on %s: %w", srv.Addr, err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down the http server: %w", err)
		}
		<-errc // ErrServerClosed
		return nil
	}
}
