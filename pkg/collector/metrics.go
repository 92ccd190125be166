package collector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted    *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	duplicates  prometheus.Counter
	erased      prometheus.Counter
	writeErrors prometheus.Counter
	// unknownPaths counts POSTs to paths under /v1/ that no route serves.
	unknownPaths prometheus.Counter
	latency      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_collector_events_accepted_total",
			Help: "Events written to Kafka, by topic.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_collector_events_rejected_total",
			Help: "Events rejected and dead-lettered, by reason (malformed, unknown_type, invalid).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_collector_events_duplicate_total",
			Help: "Events not written again because their source and id were already written.",
		}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_collector_events_erased_total",
			Help: "Events dropped because their customer was erased at or after the event's time.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_collector_kafka_write_errors_total",
			Help: "Requests answered 503 because Kafka did not acknowledge all of the write.",
		}),
		unknownPaths: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_collector_unknown_path_total",
			Help: "Requests answered 404 because they posted to a path under /v1/ that segflow does not serve.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_collector_request_duration_seconds",
			Help:    "Time from receiving an ingest request to answering it, by endpoint and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint", "code"}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.duplicates, m.erased, m.writeErrors, m.unknownPaths, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
