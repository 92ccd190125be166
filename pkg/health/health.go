// Package health serves the endpoints every segflow service exposes: /healthz
// (the process is alive), /readyz (its dependencies answer) and /metrics
// (Prometheus).
//
// Readiness is public, so it says only ready or not: which dependency failed
// and why (addresses, error text) goes to the log.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Timeout bounds each readiness check.
const Timeout = 2 * time.Second

// LogEvery is how often a failing check is logged at most, however often
// /readyz is asked.
const LogEvery = time.Minute

// Register adds /healthz, /readyz and /metrics to mux. Readiness runs every
// check and answers 503 if one failed, logging the failure at warn.
func Register(mux *http.ServeMux, reg prometheus.Gatherer, checks map[string]Check, log *zap.Logger) {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	l := &limitedLog{log: log.Named("health"), t: &Throttle{Every: LogEvery}}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		ready := true
		for _, name := range names {
			if err := checks[name](ctx); err != nil {
				ready = false
				l.warn(name, err)
			}
		}
		if !ready {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// limitedLog logs each check's failures at most once per LogEvery.
type limitedLog struct {
	log *zap.Logger
	t   *Throttle
}

func (l *limitedLog) warn(check string, err error) {
	if held, ok := l.t.Allow(check, time.Now()); ok {
		l.log.Warn("not ready", zap.String("check", check), zap.Int("failures_not_logged", held), zap.Error(err))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
