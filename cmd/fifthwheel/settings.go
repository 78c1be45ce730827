package main

import (
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
	"github.com/fifthwheel/fifthwheel/internal/session"
)

// The domain packages' Configs from the gateway's configuration: the one
// place serve maps configuration keys to them. cfg has passed Validate, so
// the operating area parses.

// livenessConfig is the liveness monitor's: heartbeat.interval and
// heartbeat.misses; the rest are the monitor's own defaults.
func livenessConfig(cfg config.Config) liveness.Config {
	return liveness.Config{Interval: cfg.Heartbeat.Interval, Misses: cfg.Heartbeat.Misses}
}

// ingestConfig is the pipeline's: telemetry.clock_skew, telemetry.window and
// plausibility.*.
func ingestConfig(cfg config.Config) (ingest.Config, error) {
	area, err := cfg.OperatingArea()
	if err != nil {
		return ingest.Config{}, err
	}
	pc := plausibilityConfig(cfg)
	pc.Area = area
	return ingest.Config{ClockSkew: cfg.Telemetry.ClockSkew, Window: int64(cfg.Telemetry.Window), MaxInFlight: cfg.Telemetry.MaxInFlight,
		SummaryInterval: cfg.Telemetry.AcceptedSummaryInterval, Plausibility: pc}, nil
}

// plausibilityConfig is the plausibility rules' thresholds:
// plausibility.* but the operating area (which needs parsing).
func plausibilityConfig(cfg config.Config) plausibility.Config {
	p := cfg.Plausibility
	return plausibility.Config{SpeedDisagreeRatio: p.SpeedDisagreeRatio, SpeedDisagreeMinMPS: p.SpeedDisagreeMinMPS,
		SpeedDisagreeFrames: p.SpeedDisagreeFrames, MaxImpliedSpeedMPS: p.MaxImpliedSpeedMPS}
}

// sessionConfig is the session layer's: session.*, heartbeat.* and, for the
// handshake's hello and challenge_response, telemetry.clock_skew.
func sessionConfig(cfg config.Config) session.Config {
	s := cfg.Session
	return session.Config{HandshakeTimeout: s.HandshakeTimeout,
		Interval: cfg.Heartbeat.Interval, Misses: cfg.Heartbeat.Misses, WriteTimeout: s.WriteTimeout,
		ManualResume: cfg.Heartbeat.ManualResume, ResumeStableHeartbeats: s.ResumeStableHeartbeats,
		MaxSessions: s.MaxSessions, OverloadLatency: s.OverloadLatency,
		HandshakeRate: s.HandshakeRate, HandshakeBurst: s.HandshakeBurst}
}
