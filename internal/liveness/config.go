package liveness

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// Config is the Monitor's configuration: data only. Zero fields take the
// defaults in limits.go; Interval and Misses take the protocol's (package
// agent).
type Config struct {
	// Interval is the vehicles' heartbeat interval (the gateway's
	// heartbeat.interval), agent.MinHeartbeatInterval to
	// agent.MaxHeartbeatInterval.
	Interval time.Duration
	// Misses is how many intervals without a heartbeat mean comm loss: the
	// deadline is the last heartbeat (or handshake) + Misses × Interval
	// (the gateway's heartbeat.misses), agent.MinMisses to agent.MaxMisses.
	Misses int
	// Tick is the timer wheel's resolution and the Run loop's period.
	Tick time.Duration
	// PhiSuspect is the φ at which an online vehicle becomes suspect.
	PhiSuspect float64
	// PhiWindow is the effective number of samples in the exponentially
	// weighted inter-arrival statistics.
	PhiWindow int
	// MinStdDev floors the learned inter-arrival standard deviation.
	MinStdDev time.Duration
	// MaxVehicles bounds how many vehicles the Monitor tracks.
	MaxVehicles int
	// QueueSize bounds the transitions waiting for delivery to observers
	// and the event Emitter.
	QueueSize int
}

// withDefaults fills zero fields; the one place defaults are applied.
func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = agent.DefaultHeartbeatInterval
	}
	if c.Misses == 0 {
		c.Misses = agent.DefaultMisses
	}
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.PhiSuspect == 0 {
		c.PhiSuspect = DefaultPhiSuspect
	}
	if c.PhiWindow == 0 {
		c.PhiWindow = DefaultPhiWindow
	}
	if c.MinStdDev == 0 {
		c.MinStdDev = DefaultMinStdDev
	}
	if c.MaxVehicles == 0 {
		c.MaxVehicles = DefaultMaxVehicles
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	return c
}

// validate checks a Config whose defaults are filled.
func (c Config) validate() error {
	durations := []struct {
		name        string
		v, min, max time.Duration
	}{
		{"interval", c.Interval, agent.MinHeartbeatInterval, agent.MaxHeartbeatInterval},
		{"tick", c.Tick, MinTick, MaxTick},
		{"min std dev", c.MinStdDev, MinMinStdDev, MaxMinStdDev},
	}
	for _, d := range durations {
		if d.v < d.min || d.v > d.max {
			return fmt.Errorf("liveness: %s %v out of range [%v, %v]", d.name, d.v, d.min, d.max)
		}
	}
	ints := []struct {
		name        string
		v, min, max int
	}{
		{"misses", c.Misses, agent.MinMisses, agent.MaxMisses},
		{"phi window", c.PhiWindow, MinPhiWindow, MaxPhiWindow},
		{"max vehicles", c.MaxVehicles, 1, MaxMaxVehicles},
		{"queue size", c.QueueSize, MinQueueSize, MaxQueueSize},
	}
	for _, i := range ints {
		if i.v < i.min || i.v > i.max {
			return fmt.Errorf("liveness: %s %d out of range [%d, %d]", i.name, i.v, i.min, i.max)
		}
	}
	// !(a >= b) also catches NaN.
	if !(c.PhiSuspect >= MinPhiSuspect && c.PhiSuspect <= MaxPhiSuspect) {
		return fmt.Errorf("liveness: phi suspect threshold %v out of range [%v, %v]", c.PhiSuspect, MinPhiSuspect, MaxPhiSuspect)
	}
	return nil
}

// Deps are the Monitor's live collaborators.
type Deps struct {
	// Events receives one event per transition; required.
	Events event.Emitter
	// Now is the clock; nil means time.Now. Tests inject a fake one and
	// drive the Monitor with Tick and Drain instead of Run.
	Now func() time.Time
	// Log receives operational messages (queue overflow, emit failures);
	// nil means slog.Default().
	Log *slog.Logger
	// Metrics is told of transitions, drops and failures; nil means none.
	Metrics Metrics
	// OnTransition, if set, is called once per transition, in order, from
	// the goroutine that delivers events (see Drain). It must not block for
	// long (it delays every later event) and must not call Drain; it may
	// call the Monitor's other methods. It must treat the Transition as a
	// notification and read State for the truth: under overload, a
	// transition's delivery can be dropped (counted, logged and recorded by
	// a liveness_events_dropped event). A session that must close on
	// comm_lost waits on Session.Done, which is never dropped.
	OnTransition func(Transition)
}

// Metrics is what the Monitor reports to a metrics system; the server
// implements it (Prometheus counters and a detection-latency histogram).
// Per-state gauges come from Monitor.Counts, which is exact.
//
// Transitioned, Undelivered and StaleHeartbeat are called with a shard lock
// held: they must be cheap and must not call the Monitor.
type Metrics interface {
	// Transitioned is called once per transition, when it happens (before
	// delivery, so drops do not affect it). For Suspect and CommLost,
	// tr.Latency is the detection latency.
	Transitioned(tr Transition)
	// Undelivered counts transitions whose observer call and event were
	// dropped because the queue was full.
	Undelivered(n int)
	// EmitFailed counts events the Emitter refused.
	EmitFailed(n int)
	// StaleHeartbeat counts calls on a Session that has ended: a heartbeat
	// still arriving on a session declared comm_lost, superseded or closed.
	StaleHeartbeat()
}

type noMetrics struct{}

func (noMetrics) Transitioned(Transition) {}
func (noMetrics) Undelivered(int)         {}
func (noMetrics) EmitFailed(int)          {}
func (noMetrics) StaleHeartbeat()         {}
