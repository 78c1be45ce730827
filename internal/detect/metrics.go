package detect

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FindingLagBuckets are the buckets of fifthwheel_detect_finding_lag_seconds:
// 1 ms to 10 s. The SLA is 1 s from a replay to its incident; the
// consumer polls every 100 ms, so a healthy gateway lands in 0.1–0.25 s.
var FindingLagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics are a Detector's Prometheus metrics; nil fields (no registry)
// record nothing.
type metrics struct {
	evaluated prometheus.Counter
	findings  *prometheus.CounterVec // rule
	lag       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fifthwheel_detect_events_evaluated_total",
			Help: "Stream events the detection engine evaluated on this replica (warm-up replays not counted).",
		}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_detect_findings_total",
			Help: "Findings the detection engine recorded and reported on this replica, by rule id " +
				"(a finding reported again after a failure counts again).",
		}, []string{"rule"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fifthwheel_detect_finding_lag_seconds",
			Help: "From the stored time of the event that completed a finding to the finding's report to the incident manager " +
				"(wall clocks: across replicas it includes their clock difference).",
			Buckets: FindingLagBuckets,
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.evaluated, m.findings, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("detect: register metrics: %w", err)
		}
	}
	return m, nil
}

// reported counts a finding reported at now.
func (m *metrics) reported(f Finding, now time.Time) {
	m.findings.WithLabelValues(f.RuleID).Inc()
	m.lag.Observe(max(0, now.Sub(f.At).Seconds()))
}
