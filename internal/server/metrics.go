package server

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fifthwheel/fifthwheel/internal/event"
)

// httpMetrics are the request metrics of all three listeners, plus the
// process-level collectors.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// Admission (listeners with Deps.Admission).
	refused       *prometheus.CounterVec // listener, reason code
	unauthClosed  *prometheus.CounterVec // listener, reason (idle, lifetime)
	eventsDropped *prometheus.CounterVec // listener
}

func newHTTPMetrics(reg prometheus.Registerer, b BuildInfo) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_http_requests_total",
			Help: "HTTP requests served, by listener, route pattern and status code.",
		}, []string{"listener", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fifthwheel_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by listener and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"listener", "route"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_admission_refused_total",
			Help: "Connections closed by admission before they could be served, by listener and reason code " +
				"(admission_source_limit, admission_global_limit, admission_unauthenticated_limit, tls_client_hello_timeout, " +
				"admission_overloaded).",
		}, []string{"listener", "reason"}),
		unauthClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_unauthenticated_conns_closed_total",
			Help: "Connections without a client certificate closed by the gateway, by listener and reason " +
				"(idle: no request for tls.unauthenticated_idle_timeout; lifetime: tls.unauthenticated_max_lifetime).",
		}, []string{"listener", "reason"}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_admission_events_dropped_total",
			Help: "Admission refusals counted in fifthwheel_admission_refused_total but not recorded as events " +
				"because too many were waiting for the event sink.",
		}, []string{"listener"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fifthwheel_build_info",
		Help: "Always 1; labels describe the running binary.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)

	for _, c := range []prometheus.Collector{
		m.requests, m.duration, m.refused, m.unauthClosed, m.eventsDropped, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one request. status 0 means the connection was aborted.
func (m *httpMetrics) observe(l Listener, route string, status int, d time.Duration) {
	code := "aborted"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(string(l), route, code).Inc()
	m.duration.WithLabelValues(string(l), route).Observe(d.Seconds())
}

// EventStats counts security events by class and verdict, sink failures,
// and what the aggregator of events about unauthenticated peers did. It
// implements event.Stats and event.AggregateStats; pass it to event.NewBus
// and event.NewAggregator.
// registerGate exports a listener's admission counts as gauges, read at
// scrape time.
func registerGate(reg prometheus.Registerer, l Listener, g *admissionGate) error {
	labels := prometheus.Labels{"listener": string(l)}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fifthwheel_admission_handshakes_in_progress",
			Help: "TLS handshakes in progress, by listener.", ConstLabels: labels},
			func() float64 { p, _, _ := g.counts(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fifthwheel_admission_unauthenticated_conns",
			Help: "Open connections admitted without a client certificate, by listener.", ConstLabels: labels},
			func() float64 { _, a, _ := g.counts(); return float64(a) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fifthwheel_admission_sources",
			Help:        "Source addresses with a handshake in progress or a certificate-less connection open, by listener.",
			ConstLabels: labels},
			func() float64 { _, _, n := g.counts(); return float64(n) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("server: register admission metrics: %w", err)
		}
	}
	return nil
}

// EventStats counts security events by class and verdict, and sink
// failures. It implements event.Stats; pass it to event.NewBus.
type EventStats struct {
	events          *prometheus.CounterVec
	sinkErrors      prometheus.Counter
	aggregated      prometheus.Counter
	overflow        prometheus.Counter
	summaryFailures prometheus.Counter
}

var (
	_ event.Stats          = (*EventStats)(nil)
	_ event.AggregateStats = (*EventStats)(nil)
)

// NewEventStats registers the event metrics in reg.
func NewEventStats(reg prometheus.Registerer) (*EventStats, error) {
	s := &EventStats{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_events_total",
			Help: "Security events emitted, by class and verdict.",
		}, []string{"class", "verdict"}),
		sinkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fifthwheel_event_sink_errors_total",
			Help: "Failed writes of security events to a sink.",
		}),
		aggregated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fifthwheel_events_aggregated_total",
			Help: "Security events about unauthenticated peers counted into a per-source summary instead of recorded one by one.",
		}),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fifthwheel_event_aggregate_overflow_total",
			Help: "Security events about unauthenticated peers folded into an all-sources window because the per-source windows were full.",
		}),
		summaryFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fifthwheel_event_summaries_failed_total",
			Help: "Aggregated event summaries that could not be recorded (their counts are lost).",
		}),
	}
	for _, c := range []prometheus.Collector{s.events, s.sinkErrors, s.aggregated, s.overflow, s.summaryFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register event metrics: %w", err)
		}
	}
	return s, nil
}

// Emitted counts one event. Classes and verdicts are constants in code, so
// the label values stay bounded.
func (s *EventStats) Emitted(ev *event.Event) {
	s.events.WithLabelValues(string(ev.Class), string(ev.Verdict)).Inc()
}

// SinkError counts one failed sink write.
func (s *EventStats) SinkError() { s.sinkErrors.Inc() }

// Folded counts one event folded into a summary.
func (s *EventStats) Folded() { s.aggregated.Inc() }

// Overflow counts one event folded into an all-sources window.
func (s *EventStats) Overflow() { s.overflow.Inc() }

// SummaryError counts n summaries that could not be recorded.
func (s *EventStats) SummaryError(n int) { s.summaryFailures.Add(float64(n)) }
