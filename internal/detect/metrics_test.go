package detect

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestDetectorMetrics: through the detect consumer, every evaluated event
// counts in fifthwheel_detect_events_evaluated_total, a finding counts in
// fifthwheel_detect_findings_total under its rule, and its lag is observed
// once in fifthwheel_detect_finding_lag_seconds (its value is not
// asserted: no timings in unit tests).
func TestDetectorMetrics(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e)
		reg := prometheus.NewRegistry()
		rep := &reporter{}
		d, err := New(Config{Holder: "gw-m"}, Deps{Store: g.st, Events: g.bus, Reporter: rep, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = d.Run(c); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, "the detect consumer", 10*time.Second, func() bool {
			cs, err := g.st.StreamConsumers(ctx)
			return err == nil && len(cs) == 1
		})
		quiet := event.Event{Class: event.ClassSystem, Activity: "start", Verdict: event.Info, Code: codes.GatewayStarted,
			Actor: systemActor}
		for _, ev := range []event.Event{quiet, quiet, replayEvent("truck-9")} {
			if err := g.bus.Emit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the finding", 10*time.Second, func() bool { return len(rep.findings()) == 1 })
		// The finding's own detection_finding event is evaluated too (and
		// ignored by the rules): at least the three emitted.
		waitFor(t, "the evaluated count", 10*time.Second, func() bool {
			return value(t, reg, "fifthwheel_detect_events_evaluated_total", "") >= 3
		})
		if n := value(t, reg, "fifthwheel_detect_findings_total", "frame-replay"); n != 1 {
			t.Errorf("fifthwheel_detect_findings_total{rule=frame-replay} = %v, want 1", n)
		}
		if n := value(t, reg, "fifthwheel_detect_finding_lag_seconds", ""); n != 1 {
			t.Errorf("fifthwheel_detect_finding_lag_seconds observations = %v, want 1", n)
		}
	})
}

// value sums the named metric's series in reg (counters: their value;
// histograms: their observation count), those with rule=rule if rule is
// set; -1 if it has none.
func value(t *testing.T, reg *prometheus.Registry, name, rule string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v, seen := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if rule != "" && !hasLabel(m, "rule", rule) {
				continue
			}
			seen = true
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Histogram != nil:
				v += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if !seen {
		return -1
	}
	return v
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
