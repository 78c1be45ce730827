package main

import (
	"context"
	"fmt"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
	"github.com/fifthwheel/fifthwheel/internal/session"
)

// TestConfigDefaultsMatchTheLibraries: internal/config names its defaults
// (with their reasons) without importing the domain packages; the values
// must stay those the libraries document. The protocol's (heartbeat timing,
// clock skew) are package agent's.
func TestConfigDefaultsMatchTheLibraries(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"pki.revocation_poll", config.DefaultRevocationPoll, pki.DefaultRevocationPoll},
		{"audit.publish_webhook_every", config.DefaultAuditPublishWebhookEvery, audit.DefaultPublishEvery},
		{"audit.publish_webhook_every floor", config.MinAuditPublishWebhookEvery, audit.MinPublishEvery},
		{"incidents.grouping_window", config.DefaultIncidentGroupingWindow, incident.DefaultGroupingWindow},
		{"incidents.grouping_window bound", config.MaxIncidentGroupingWindow, incident.MaxGroupingWindow},
		{"incidents.escalate_interval", config.DefaultIncidentEscalateInterval, incident.DefaultEscalateInterval},
		{"incidents.clocks.internal_safety", config.DefaultIncidentInternalSafety, incident.DefaultInternalSafety},
		{"incidents.clocks.internal", config.DefaultIncidentInternal, incident.DefaultInternal},
		{"incidents.clocks.customer", config.DefaultIncidentCustomer, incident.DefaultCustomer},
		{"incidents.clocks.regulator_early_warning", config.DefaultIncidentRegulatorEarlyWarning, incident.DefaultRegulatorEarlyWarning},
		{"incidents.clocks.regulator", config.DefaultIncidentRegulator, incident.DefaultRegulator},
		{"incidents clock bound", config.MaxIncidentClock, incident.MaxClock},
		{"incidents.retention", config.DefaultIncidentRetention, incident.DefaultRetention},
		{"incidents.retention bound", config.MinIncidentRetention, incident.MinRetention},
		{"access.token_alg", config.DefaultAccessTokenAlg, authz.AlgEdDSA},
		{"access.rate_per_second", float64(config.DefaultAccessRatePerSecond), float64(authz.DefaultClientRatePerSecond)},
		{"access.burst", config.DefaultAccessBurst, authz.DefaultClientRateBurst},
		{"access.risk_threshold", config.DefaultAccessRiskThreshold, authz.DefaultRiskThreshold},
		{"access.directory_poll", config.DefaultAccessDirectoryPoll, authz.DefaultDirectoryPoll},
		{"pki.revocation_max_age", config.DefaultRevocationMaxAge, pki.DefaultRevocationMaxAge},
		{"pki revocation max age bound", config.MaxRevocationMaxAge, pki.MaxRevocationMaxAge},
		{"pki.server_names bound", config.MaxServerNames, pki.MaxGatewaySANs},
		{"pki.renew_per_minute", config.DefaultRenewPerMinute, enroll.DefaultRenewPerMinute},
		{"pki.renew_burst", config.DefaultRenewBurst, enroll.DefaultRenewBurst},
		{"telemetry.rate_per_second", config.DefaultTelemetryRate, ingest.DefaultRatePerSecond},
		{"telemetry.burst", config.DefaultTelemetryBurst, ingest.DefaultBurst},
		{"telemetry.clock_skew", config.DefaultClockSkew, agent.DefaultClockSkew},
		{"telemetry.clock_skew bound", config.MaxClockSkew, ingest.MaxClockSkew},
		{"telemetry.window", config.DefaultWindow, ingest.DefaultWindow},
		{"telemetry.window bound", config.MaxWindow, ingest.MaxWindow},
		{"telemetry.burst floor", config.MinTelemetryBurst, ingest.MaxBatchFrames},
		{"telemetry.accepted_summary_interval", config.DefaultAcceptedSummaryInterval, ingest.DefaultSummaryInterval},
		{"telemetry.accepted_summary_interval floor", config.MinAcceptedSummaryInterval, ingest.MinSummaryInterval},
		{"telemetry.accepted_summary_interval ceiling", config.MaxAcceptedSummaryInterval, ingest.MaxSummaryInterval},
		{"telemetry.max_in_flight", config.DefaultTelemetryMaxInFlight, ingest.DefaultMaxInFlight},
		{"telemetry.max_in_flight floor", config.MinTelemetryMaxInFlight, ingest.MaxBatchFrames},
		{"telemetry.max_in_flight ceiling", config.MaxTelemetryMaxInFlight, ingest.MaxMaxInFlight},
		{"events.aggregate_window", config.DefaultAggregateWindow, event.DefaultAggregateWindow},
		{"events.aggregate_window floor", config.MinAggregateWindow, event.MinAggregateWindow},
		{"events.aggregate_window ceiling", config.MaxAggregateWindow, event.MaxAggregateWindow},
		{"heartbeat.interval", config.DefaultHeartbeatInterval, agent.DefaultHeartbeatInterval},
		{"heartbeat.interval floor", config.MinHeartbeatInterval, agent.MinHeartbeatInterval},
		{"heartbeat.interval ceiling", config.MaxHeartbeatInterval, agent.MaxHeartbeatInterval},
		{"heartbeat.misses", config.DefaultHeartbeatMisses, agent.DefaultMisses},
		{"heartbeat.misses floor", config.MinHeartbeatMisses, agent.MinMisses},
		{"heartbeat.misses ceiling", config.MaxHeartbeatMisses, agent.MaxMisses},
		{"session.handshake_timeout", config.DefaultSessionHandshakeTimeout, session.DefaultHandshakeTimeout},
		{"session.handshake_timeout bound", config.MaxSessionHandshakeTimeout, session.MaxHandshakeTimeout},
		{"session.write_timeout", config.DefaultSessionWriteTimeout, session.DefaultWriteTimeout},
		{"session.write_timeout bound", config.MaxSessionWriteTimeout, session.MaxWriteTimeout},
		{"session.resume_stable_heartbeats", config.DefaultResumeStableHeartbeats, session.DefaultResumeStableHeartbeats},
		{"session.resume_stable_heartbeats bound", config.MaxResumeStableHeartbeats, session.MaxResumeStableHeartbeats},
		{"session.max_sessions", config.DefaultMaxSessions, session.DefaultMaxSessions},
		{"session.max_sessions bound", config.MaxMaxSessions, session.MaxMaxSessions},
		{"session.overload_latency (the session's Interval/4)", config.DefaultOverloadLatency, agent.DefaultHeartbeatInterval / 4},
		{"session.handshake_rate", config.DefaultSessionHandshakeRate, session.DefaultHandshakeRate},
		{"session.handshake_rate floor", config.MinSessionHandshakeRate, session.MinHandshakeRate},
		{"session.handshake_rate ceiling", config.MaxSessionHandshakeRate, session.MaxHandshakeRate},
		{"session.handshake_burst", config.DefaultSessionHandshakeBurst, session.DefaultHandshakeBurst},
		{"session.handshake_burst bound", config.MaxSessionHandshakeBurst, session.MaxHandshakeBurst},
		{"plausibility.speed_disagree_ratio", config.DefaultSpeedDisagreeRatio, plausibility.DefaultSpeedDisagreeRatio},
		{"plausibility.speed_disagree_ratio floor", config.MinSpeedDisagreeRatio, plausibility.MinSpeedDisagreeRatio},
		{"plausibility.speed_disagree_ratio ceiling", config.MaxSpeedDisagreeRatio, plausibility.MaxSpeedDisagreeRatio},
		{"plausibility.speed_disagree_min_mps", config.DefaultSpeedDisagreeMinMPS, plausibility.DefaultSpeedDisagreeMinMPS},
		{"plausibility.speed_disagree_min_mps floor", config.MinSpeedDisagreeMinMPS, plausibility.MinSpeedDisagreeMinMPS},
		{"plausibility.speed_disagree_min_mps ceiling", config.MaxSpeedDisagreeMinMPS, plausibility.MaxSpeedDisagreeMinMPS},
		{"plausibility.speed_disagree_frames", config.DefaultSpeedDisagreeFrames, plausibility.DefaultSpeedDisagreeFrames},
		{"plausibility.speed_disagree_frames bound", config.MaxSpeedDisagreeFrames, plausibility.MaxSpeedDisagreeFrames},
		{"plausibility.max_implied_speed_mps", config.DefaultMaxImpliedSpeedMPS, plausibility.DefaultMaxImpliedSpeedMPS},
		{"plausibility.max_implied_speed_mps floor", config.MinMaxImpliedSpeedMPS, plausibility.MinMaxImpliedSpeedMPS},
		{"plausibility.max_implied_speed_mps ceiling", config.MaxMaxImpliedSpeedMPS, plausibility.MaxMaxImpliedSpeedMPS},
	} {
		if c.got != c.want {
			t.Errorf("%s: config has %v, the library %v", c.name, c.got, c.want)
		}
	}
}

type discardEmitter struct{}

func (discardEmitter) Emit(context.Context, ...event.Event) error { return nil }

// configRefusal returns err's message if it is about the Config (it
// contains marker), else "": session and ingest validate their Config before
// their dependencies, so with none given a valid Config still fails, for
// another reason.
func configRefusal(err error, marker string) string {
	if err == nil || !strings.Contains(err.Error(), marker) {
		return ""
	}
	return err.Error()
}

// TestProtocolTimingAgrees: heartbeat timing and clock skew are the
// protocol's, declared once in package agent. Every heartbeat.interval,
// heartbeat.misses and telemetry.clock_skew an operator can write is one the
// truck's agent, the liveness monitor, the session layer and the pipeline
// all accept, as serve hands it to them; one just beyond config's bounds is
// refused by each of them too, so no layer is laxer than the others.
func TestProtocolTimingAgrees(t *testing.T) {
	type timing struct {
		interval time.Duration
		misses   int
		skew     time.Duration
	}
	check := func(tm timing) (refusals []string) {
		cfg := config.Default()
		cfg.DataDir = "/var/lib/fifthwheel"
		cfg.Heartbeat.Interval, cfg.Heartbeat.Misses, cfg.Telemetry.ClockSkew = tm.interval, tm.misses, tm.skew
		cfg.Session.OverloadLatency = config.MinOverloadLatency
		if err := cfg.Validate(); err != nil {
			refusals = append(refusals, "config: "+err.Error())
		}
		if _, err := liveness.New(livenessConfig(cfg), liveness.Deps{Events: discardEmitter{}}); err != nil {
			refusals = append(refusals, err.Error())
		}
		_, err := session.New(sessionConfig(cfg), session.Deps{})
		if r := configRefusal(err, "session: config:"); r != "" {
			refusals = append(refusals, r)
		}
		icfg, err := ingestConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ingest.New(icfg, ingest.Deps{})
		if r := configRefusal(err, "clock_skew:"); r != "" {
			refusals = append(refusals, r)
		}
		_, err = agent.New(agent.Config{HeartbeatInterval: tm.interval, Misses: tm.misses}, agent.Identity{}, agent.Deps{})
		for _, part := range strings.Split(fmt.Sprint(err), "; ") {
			if strings.Contains(part, "heartbeat interval:") || strings.Contains(part, "misses:") {
				refusals = append(refusals, part)
			}
		}
		return refusals
	}
	for _, tm := range []timing{
		{config.MinHeartbeatInterval, config.MinHeartbeatMisses, time.Millisecond},
		{config.DefaultHeartbeatInterval, config.DefaultHeartbeatMisses, config.DefaultClockSkew},
		{config.MaxHeartbeatInterval, config.MaxHeartbeatMisses, config.MaxClockSkew},
	} {
		if r := check(tm); len(r) > 0 {
			t.Errorf("%+v is valid configuration, refused by: %q", tm, r)
		}
	}
	for _, c := range []struct {
		name string
		tm   timing
		want int // config, liveness, session, agent (the pipeline has no heartbeat)
	}{
		{"interval below the floor", timing{config.MinHeartbeatInterval - time.Millisecond, config.DefaultHeartbeatMisses, config.DefaultClockSkew}, 4},
		{"interval above the ceiling", timing{config.MaxHeartbeatInterval + time.Millisecond, config.DefaultHeartbeatMisses, config.DefaultClockSkew}, 4},
		{"misses below the floor", timing{config.DefaultHeartbeatInterval, config.MinHeartbeatMisses - 1, config.DefaultClockSkew}, 4},
		{"misses above the ceiling", timing{config.DefaultHeartbeatInterval, config.MaxHeartbeatMisses + 1, config.DefaultClockSkew}, 4},
		// config and the pipeline, whose admission the session's handshake
		// shares (the agent and the monitor have no skew).
		{"clock skew above the ceiling", timing{config.DefaultHeartbeatInterval, config.DefaultHeartbeatMisses, config.MaxClockSkew + time.Millisecond}, 2},
	} {
		if r := check(c.tm); len(r) != c.want {
			t.Errorf("%s: refused by %d layers, want %d: %q", c.name, len(r), c.want, r)
		}
	}
	// The agent sends telemetry live only while the gateway will still take
	// it as live.
	if agent.DefaultLiveMaxAge >= config.DefaultClockSkew || agent.MaxLiveMaxAge >= config.DefaultClockSkew {
		t.Errorf("agent live max age %v (at most %v) does not fit the gateway's clock skew %v",
			agent.DefaultLiveMaxAge, agent.MaxLiveMaxAge, config.DefaultClockSkew)
	}
}

// TestServeMapsEveryKey: the session layer and the pipeline get every
// field of their Config from the configuration serve runs with (settings.go),
// none left to the library's own default. Each key is set to a value other
// than its default, and each must arrive.
func TestServeMapsEveryKey(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = "/var/lib/fifthwheel"
	cfg.Heartbeat = config.Heartbeat{Interval: 2 * time.Second, Misses: 4, ManualResume: true}
	cfg.Telemetry.ClockSkew, cfg.Telemetry.Window, cfg.Telemetry.AcceptedSummaryInterval = 7*time.Second, 3, 90*time.Second
	cfg.Telemetry.MaxInFlight = 4096
	cfg.Session = config.Session{HandshakeTimeout: 9 * time.Second, WriteTimeout: 8 * time.Second, ResumeStableHeartbeats: 5,
		MaxSessions: 1234, OverloadLatency: 300 * time.Millisecond, HandshakeRate: 0.5, HandshakeBurst: 7}
	cfg.Plausibility = config.Plausibility{SpeedDisagreeRatio: 0.3, SpeedDisagreeMinMPS: 6, SpeedDisagreeFrames: 4,
		MaxImpliedSpeedMPS: 70, OperatingArea: "32,-97.5; 33.5,-97.5; 33.5,-96; 32,-96"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	icfg, err := ingestConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantIngest := ingest.Config{ClockSkew: 7 * time.Second, Window: 3, SummaryInterval: 90 * time.Second, MaxInFlight: 4096, Plausibility: plausibility.Config{
		SpeedDisagreeRatio: 0.3, SpeedDisagreeMinMPS: 6, SpeedDisagreeFrames: 4, MaxImpliedSpeedMPS: 70,
		Area: plausibility.Polygon{{32, -97.5}, {33.5, -97.5}, {33.5, -96}, {32, -96}}}}
	if !reflect.DeepEqual(icfg, wantIngest) {
		t.Errorf("ingest config\n got %+v\nwant %+v", icfg, wantIngest)
	}
	wantSession := session.Config{HandshakeTimeout: 9 * time.Second, Interval: 2 * time.Second,
		Misses: 4, WriteTimeout: 8 * time.Second, ManualResume: true, ResumeStableHeartbeats: 5, MaxSessions: 1234,
		OverloadLatency: 300 * time.Millisecond, HandshakeRate: 0.5, HandshakeBurst: 7}
	if got := sessionConfig(cfg); got != wantSession {
		t.Errorf("session config\n got %+v\nwant %+v", got, wantSession)
	}
	if got, want := livenessConfig(cfg), (liveness.Config{Interval: 2 * time.Second, Misses: 4}); got != want {
		t.Errorf("liveness config %+v, want %+v", got, want)
	}
	for _, keep := range []time.Duration{0, 30 * 24 * time.Hour, config.DefaultRetention} {
		cfg.Telemetry.Retention = keep
		if r := newRetention(cfg, nil, nil, nil); r.Keep != keep || r.Actor != gatewayActor {
			t.Errorf("retention %v: serve purges with Keep %v, actor %v", keep, r.Keep, r.Actor)
		}
	}
	for _, keep := range []time.Duration{0, 720 * time.Hour, config.DefaultIncidentRetention} {
		cfg.Incidents.Retention = keep
		r := newRetention(cfg, nil, nil, nil)
		if len(r.Also) != 1 {
			t.Fatalf("serve's retention loop runs %d other purges, want 1 (resolved incidents)", len(r.Also))
		}
		if ir, ok := r.Also[0].(*incident.Retention); !ok || ir.Keep != keep || ir.Actor != gatewayActor {
			t.Errorf("incident retention %v: serve purges with %+v", keep, r.Also[0])
		}
	}
	// A field added to session.Config or ingest.Config later must be mapped
	// (or this test told why not).
	for _, v := range []any{wantSession, wantIngest, wantIngest.Plausibility} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Errorf("%T.%s is not set from the configuration", v, rv.Type().Field(i).Name)
			}
		}
	}
}
