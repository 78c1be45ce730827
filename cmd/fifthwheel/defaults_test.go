package main

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// TestConfigDefaultsMatchTheLibraries: internal/config names its defaults
// (with their reasons) without importing the domain packages; the values
// must stay those the libraries document.
func TestConfigDefaultsMatchTheLibraries(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"pki.revocation_poll", config.DefaultRevocationPoll, pki.DefaultRevocationPoll},
		{"pki.revocation_max_age", config.DefaultRevocationMaxAge, pki.DefaultRevocationMaxAge},
		{"pki revocation max age bound", config.MaxRevocationMaxAge, pki.MaxRevocationMaxAge},
		{"pki.server_names bound", config.MaxServerNames, pki.MaxGatewaySANs},
		{"pki.renew_per_minute", config.DefaultRenewPerMinute, enroll.DefaultRenewPerMinute},
		{"pki.renew_burst", config.DefaultRenewBurst, enroll.DefaultRenewBurst},
		{"telemetry.rate_per_second", config.DefaultTelemetryRate, ingest.DefaultRatePerSecond},
		{"telemetry.burst", config.DefaultTelemetryBurst, ingest.DefaultBurst},
		{"telemetry.clock_skew", config.DefaultClockSkew, ingest.DefaultClockSkew},
		{"telemetry.window", config.DefaultWindow, ingest.DefaultWindow},
		{"telemetry.window bound", config.MaxWindow, ingest.MaxWindow},
		{"telemetry.burst floor", config.MinTelemetryBurst, ingest.MaxBatchFrames},
		{"events.aggregate_window", config.DefaultAggregateWindow, event.DefaultAggregateWindow},
		{"events.aggregate_window floor", config.MinAggregateWindow, event.MinAggregateWindow},
		{"events.aggregate_window ceiling", config.MaxAggregateWindow, event.MaxAggregateWindow},
	} {
		if c.got != c.want {
			t.Errorf("%s: config has %v, the library %v", c.name, c.got, c.want)
		}
	}
}
