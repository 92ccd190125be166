package updater

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	applied, duplicates, erased, timersFired, rescoreChanges prometheus.Counter
	rejected, changes, errors                                *prometheus.CounterVec
	timerBacklog                                             prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_updater_events_applied_total", Help: "Events applied to profiles.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_updater_duplicates_skipped_total", Help: "Orders and refunds already applied, skipped.",
		}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_updater_erased_events_dropped_total", Help: "Events of erased customers, from before their erasure, dropped.",
		}),
		timersFired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_updater_timers_fired_total", Help: "Customers re-evaluated because a timer fell due.",
		}),
		rescoreChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_updater_rescore_changes_total", Help: "profile.changed events published by periodic rescores (the population moved, not the customer).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_updater_events_rejected_total", Help: "Events dead-lettered, by reason.",
		}, []string{"reason"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_updater_profile_changes_total", Help: "profile.changed events published, by what changed.",
		}, []string{"what"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_updater_retries_total", Help: "Failed steps that were retried, by step.",
		}, []string{"step"}),
		timerBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "segflow_updater_timer_backlog", Help: "Timers due and not yet applied.",
		}),
	}
	for _, c := range []prometheus.Collector{m.applied, m.duplicates, m.erased, m.timersFired, m.rescoreChanges, m.rejected, m.changes, m.errors, m.timerBacklog} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
