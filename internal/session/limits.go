package session

import "time"

// Defaults and bounds of the session layer, in one place. Each default is
// a Config field too.
const (
	// DefaultHandshakeTimeout: a vehicle that has not completed hello →
	// challenge → response within 5 s is closed. A healthy cellular link
	// needs two round trips (well under 1 s); 5 s tolerates a bad one
	// without letting half-open handshakes pile up.
	DefaultHandshakeTimeout = 5 * time.Second
	// MaxHandshakeTimeout: a handshake slower than this is a dead link, and
	// half-open handshakes would pile up.
	MaxHandshakeTimeout = 30 * time.Second

	// Heartbeat timing (Config.Interval, Config.Misses) is the protocol's,
	// declared once in package agent: a zero field takes
	// agent.DefaultHeartbeatInterval or agent.DefaultMisses, and validation
	// enforces the agent's bounds. The gateway passes its heartbeat.*
	// settings. The handshake's clock skew is the pipeline's
	// (ingest.Config.ClockSkew, telemetry.clock_skew): one admission path.

	// DefaultResumeStableHeartbeats: auto-resume needs this many
	// consecutive accepted heartbeats reporting safe_state on the session,
	// each within 2 intervals of the previous one, before the gateway
	// challenges and resumes. With the default 1 s interval that is a link
	// stable for about 3 s: a link that flaps faster never resumes a truck.
	DefaultResumeStableHeartbeats = 3
	MaxResumeStableHeartbeats     = 60

	// idleGrace: a session that sent nothing for Misses intervals plus
	// idleGrace is closed. The liveness monitor's deadline (the last
	// heartbeat + Misses intervals, declared at its next 50 ms tick) has
	// passed by then, so the close is comm_lost; without a monitor it is
	// read_timeout.
	idleGrace = 250 * time.Millisecond

	// DefaultWriteTimeout bounds writing one gateway frame: a frame is a
	// few hundred bytes, so a write that takes longer is a stalled peer.
	DefaultWriteTimeout = 5 * time.Second
	// MaxWriteTimeout: beyond a minute a stalled peer holds its goroutine
	// and buffers for nothing.
	MaxWriteTimeout = time.Minute

	// Overload shedding. The gateway keeps a moving average of the time
	// from reading a heartbeat or telemetry frame to writing its answer
	// (weight overloadAlpha per frame). While it exceeds
	// Config.OverloadLatency (default: a quarter of the heartbeat
	// interval, so acks still arrive well inside the interval the trucks
	// wait), new sessions are taken only into the room left by the
	// sessions held when the gateway last answered in time (Handler.Load,
	// which the vehicle listener's admission asks before a TLS handshake);
	// an upgrade beyond it is refused with 503 gateway_overloaded and a
	// Retry-After of overloadRetryMin plus up to overloadRetryJitter
	// seconds: the trucks already connected keep getting their acks in
	// time instead of every truck stopping. A frame older than one
	// interval no longer counts (the average is stale), nor does a
	// telemetry frame refused gateway_busy (its answer is quick because
	// nothing was done).
	overloadAlpha       = 0.05
	overloadRetryMin    = 2
	overloadRetryJitter = 8

	// DefaultMaxSessions bounds open connections (established or in
	// handshake): above the largest fleet one gateway serves.
	DefaultMaxSessions = 100_000
	// MaxMaxSessions: beyond a million connections one gateway is the wrong
	// design (and its open-file limit stops it sooner).
	MaxMaxSessions = 1_000_000

	// DefaultHandshakeRate and DefaultHandshakeBurst limit handshakes per
	// vehicle: a truck on a flapping link reconnects about once a second,
	// which fits; a reconnect loop (a bug, a cloned identity) gets 429
	// rather than costing a signature check (and, past the pipeline's key
	// cache, two store reads) each time.
	DefaultHandshakeRate  = 1.0
	DefaultHandshakeBurst = 10
	// MinHandshakeRate: a rate of 0 would lock a vehicle out for good once
	// its burst is spent; one handshake per 100 s is the floor.
	// MaxHandshakeRate and MaxHandshakeBurst: a vehicle completing more
	// than ten handshakes a second, or a hundred at once, is a loop, not a
	// link; there is no "unlimited".
	MinHandshakeRate  = 0.01
	MaxHandshakeRate  = 10.0
	MaxHandshakeBurst = 100

	// eventTimeout bounds recording one event, so a slow sink cannot hold
	// a session's goroutine for long.
	eventTimeout = 5 * time.Second

	// nonceSize is the gateway's challenge nonce: 256 bits.
	nonceSize = 32

	// commandBatch is how many commands one store read of a delivery pass
	// takes; a vehicle with more gets them over several reads, in cmd_seq
	// order.
	commandBatch = 32
	// commandPassTimeout bounds one delivery pass (its store reads and
	// claims; each write has WriteTimeout): a pass that takes longer ends,
	// and the next kick or poll goes on.
	commandPassTimeout = 30 * time.Second
	// commandPollPage and commandPollPages bound one poll of the queued
	// commands: 16 reads of 1,000, beyond which a backlog is polled over
	// several intervals.
	commandPollPage  = 1000
	commandPollPages = 16
)
