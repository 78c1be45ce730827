package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Config tunes the session layer. Data only; zero fields take the defaults
// in limits.go, and Interval and Misses the protocol's (package agent). The
// gateway fills it from its configuration (internal/config session.* and
// heartbeat.*).
type Config struct {
	// HandshakeTimeout bounds hello → challenge → challenge_response.
	HandshakeTimeout time.Duration
	// Interval and Misses are the fleet's heartbeat timing (the gateway's
	// heartbeat.interval and heartbeat.misses).
	Interval time.Duration
	Misses   int
	// WriteTimeout bounds writing one gateway frame.
	WriteTimeout time.Duration
	// ManualResume turns auto-resume off: a vehicle in safe_state then
	// leaves it only when an operator calls Handler.Resume. By default
	// (false) the gateway resumes a vehicle that reports safe_state once
	// its session has been stable for ResumeStableHeartbeats heartbeats.
	ManualResume bool
	// ResumeStableHeartbeats is the auto-resume hold-down (default 3).
	ResumeStableHeartbeats int
	// MaxSessions bounds open connections.
	MaxSessions int
	// OverloadLatency: new sessions are refused while the moving average
	// time to answer a frame exceeds it (limits.go). 0 means Interval/4;
	// negative turns shedding off.
	OverloadLatency time.Duration
	// HandshakeRate (per second) and HandshakeBurst limit handshakes per
	// vehicle.
	HandshakeRate  float64
	HandshakeBurst int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.Interval, agent.DefaultHeartbeatInterval)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	if c.Misses == 0 {
		c.Misses = agent.DefaultMisses
	}
	if c.ResumeStableHeartbeats == 0 {
		c.ResumeStableHeartbeats = DefaultResumeStableHeartbeats
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.OverloadLatency == 0 {
		c.OverloadLatency = c.Interval / 4
	}
	if c.HandshakeRate == 0 {
		c.HandshakeRate = DefaultHandshakeRate
	}
	if c.HandshakeBurst == 0 {
		c.HandshakeBurst = DefaultHandshakeBurst
	}
	return c
}

func (c Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.HandshakeTimeout < 0 || c.HandshakeTimeout > MaxHandshakeTimeout {
		bad("handshake timeout: must be between 0 and %v", MaxHandshakeTimeout)
	}
	if c.Interval < agent.MinHeartbeatInterval || c.Interval > agent.MaxHeartbeatInterval {
		bad("interval: must be between %v and %v", agent.MinHeartbeatInterval, agent.MaxHeartbeatInterval)
	}
	if c.Misses < agent.MinMisses || c.Misses > agent.MaxMisses {
		bad("misses: must be between %d and %d", agent.MinMisses, agent.MaxMisses)
	}
	if c.WriteTimeout < 0 || c.WriteTimeout > MaxWriteTimeout {
		bad("write timeout: must be between 0 and %v", MaxWriteTimeout)
	}
	if c.ResumeStableHeartbeats < 1 || c.ResumeStableHeartbeats > MaxResumeStableHeartbeats {
		bad("resume stable heartbeats: must be between 1 and %d", MaxResumeStableHeartbeats)
	}
	if c.MaxSessions < 1 || c.MaxSessions > MaxMaxSessions {
		bad("max sessions: must be between 1 and %d", MaxMaxSessions)
	}
	if !(c.HandshakeRate >= MinHandshakeRate && c.HandshakeRate <= MaxHandshakeRate) {
		bad("handshake rate: must be between %v and %v per second", MinHandshakeRate, MaxHandshakeRate)
	}
	if c.HandshakeBurst < 1 || c.HandshakeBurst > MaxHandshakeBurst {
		bad("handshake burst: must be between 1 and %d", MaxHandshakeBurst)
	}
	if len(errs) > 0 {
		return errors.New("session: config: " + strings.Join(errs, "; "))
	}
	return nil
}

// Pipeline is what the session needs of ingest.Pipeline: hello and
// challenge_response are authenticated there, and heartbeats and telemetry
// verified and made durable, like any frame (one admission path, one key
// cache).
type Pipeline interface {
	Authenticate(ctx context.Context, peer principal.Principal, want ingest.Expect, raw []byte) (*frame.Frame, *frame.Envelope, error)
	Process(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error)
	// ProcessParsed is Process for one frame the session has parsed (to
	// route it), so it is not parsed twice.
	ProcessParsed(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, env *frame.Envelope, f *frame.Frame) (ingest.Result, error)
}

// Tracker is how a session learns that its connection is cut off (its
// certificate revoked, its vehicle suspended): Track registers closeFn as
// the way to close r's connection then, until untrack; closeFn is told why
// by the tracker's reason code (codes.SessionClosedRevoked,
// codes.SessionClosedSuspended). closeFn must not block; it may run on
// another goroutine, or inside Track when the connection was cut off
// already. An error means the connection must not be served:
// pki.ErrRevoked (revoked since the TLS handshake), pki.ErrRevocationStale,
// or a connection nobody tracks.
//
// In the gateway the server's admission tracks every connection, and
// server.HijackTracker hands the session's close to it.
type Tracker interface {
	Track(r *http.Request, closeFn func(code string)) (untrack func(), err error)
}

// Limiter limits a vehicle's frames (ratelimit.Limiter; share it with the
// batch path so a vehicle has one budget). TakeN takes n tokens, or
// reports the wait; giveBack returns them when the gateway refuses the
// frame for its own reasons (gateway_busy).
type Limiter interface {
	TakeN(key string, n int) (ok bool, retryAfter time.Duration, giveBack func())
}

// Liveness is what the session needs of the liveness monitor
// (internal/liveness; LivenessMonitor adapts a *liveness.Monitor).
type Liveness interface {
	// Connected records a completed handshake of vehicleID at at.
	Connected(vehicleID string, at time.Time) (LiveSession, error)
}

// LiveSession is one session as the liveness monitor tracks it.
type LiveSession interface {
	// Heartbeat records a verified, durable heartbeat reporting state.
	Heartbeat(at time.Time, state string) error
	// SafeState records verified telemetry reporting safe_state.
	SafeState(at time.Time) error
	// Disconnected records the end of the connection and how.
	Disconnected(at time.Time, how DisconnectReason)
	// Done is closed when the monitor ends the session; Err says why
	// (ErrLiveCommLost, ErrLiveSuperseded or another error).
	Done() <-chan struct{}
	Err() error
}

// DisconnectReason says how a connection ended, for the liveness monitor.
type DisconnectReason uint8

// Disconnect reasons.
const (
	// DisconnectTransport: the connection failed; the vehicle stays under
	// its deadline and is comm_lost unless it reconnects.
	DisconnectTransport DisconnectReason = iota
	// DisconnectGoodbye: the vehicle closed the session (status 1000 or
	// 1001); it goes offline.
	DisconnectGoodbye
	// DisconnectGateway: the gateway closed it on purpose.
	DisconnectGateway
	// DisconnectRevoked: the gateway closed it because the certificate was
	// revoked.
	DisconnectRevoked
	// DisconnectSuspended: the gateway closed it because the vehicle was
	// suspended or retired.
	DisconnectSuspended
)

// Errors a LiveSession's Err reports.
var (
	ErrLiveCommLost   = errors.New("session: liveness declared comm loss")
	ErrLiveSuperseded = errors.New("session: liveness: superseded")
	ErrLiveForgotten  = errors.New("session: liveness: vehicle forgotten")
)

// FrameSigner signs a frame the gateway sends, under the kid of the key
// that signs it (package gwkey).
type FrameSigner interface {
	SignFrame(f *frame.Frame) ([]byte, error)
}

// Deps are the session layer's live collaborators.
type Deps struct {
	// Key signs every frame the gateway sends (in the gateway: the current
	// key of the gateway's key set, *gwkey.Signer). Required.
	Key FrameSigner
	// Pipeline authenticates handshake frames, and verifies and stores
	// heartbeats and telemetry. Required.
	Pipeline Pipeline
	// Events records security events. Required.
	Events event.Emitter
	// Tracker closes sessions on revocation (and suspension) with close
	// code 4003 (4005), so the vehicle learns why at once and the liveness
	// monitor records a revocation (suspension), not a comm loss.
	// Required: a session whose connection nobody can cut off would
	// outlive its certificate.
	Tracker Tracker
	// Liveness, if set, is told of sessions and heartbeats, and ends
	// sessions on comm loss.
	Liveness Liveness
	// Limiter, if set, limits each vehicle's frames on the session.
	Limiter Limiter
	// Metrics, if set, receives the session metrics.
	Metrics prometheus.Registerer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Rand is the source of the challenge nonces; nil is crypto/rand.
	// Anything else is for tests only (the session transcript vectors).
	Rand io.Reader
	// Log receives operational messages; nil is slog.Default().
	Log *slog.Logger

	// Commands, CommandStore and CommandKey, all or none, deliver commands
	// on the session (commands.go) and take the vehicle's command_ack
	// answers; without them a command_ack closes the session
	// (unexpected_kind). Replica names this gateway in the command's
	// delivered_by.
	Commands     CommandService
	CommandStore CommandLister
	CommandKey   CommandSigner
	Replica      string

	// Stops, if set, decides the vehicle's stop_event frames (package
	// tracking's Service) after the pipeline has verified and archived
	// them; without it a stop_event closes the session (unexpected_kind).
	Stops StopReporter
}
