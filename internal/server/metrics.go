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
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fifthwheel_build_info",
		Help: "Always 1; labels describe the running binary.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)

	for _, c := range []prometheus.Collector{
		m.requests, m.duration, build,
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
