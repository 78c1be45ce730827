package agent

import "time"

// Defaults and bounds of the agent, in one place. Each default is a Config
// field too (but DefaultClockSkew, the gateway's); the bounds are what
// Config validation enforces.

// The protocol's timing: heartbeats, the watchdog and clock skew. These are
// the one source of these values for the whole project: the gateway's
// defaults and bounds (internal/config heartbeat.interval, heartbeat.misses
// and telemetry.clock_skew, and the session, liveness and ingest packages)
// refer to them, so a truck and its gateway can always be configured to
// count the same misses and to agree on what is fresh.
const (
	// DefaultHeartbeatInterval: one heartbeat a second (docs/ARCHITECTURE.md, Defaults).
	DefaultHeartbeatInterval = time.Second
	// MinHeartbeatInterval: faster costs cellular bandwidth on every truck
	// and gains nothing in stopping distance.
	MinHeartbeatInterval = 500 * time.Millisecond
	// MaxHeartbeatInterval: slower cannot detect comm loss inside the
	// safe-state budget (detection plus a 25 m/s stop within 15 s).
	MaxHeartbeatInterval = 3 * time.Second

	// DefaultMisses: three intervals without an answered heartbeat start
	// the minimal-risk maneuver, as the gateway declares comm loss after
	// three.
	DefaultMisses = 3
	// MinMisses: one would stop the truck on a single lost packet.
	MinMisses = 2
	// MaxMisses: more delays the reaction beyond the safe-state budget.
	MaxMisses = 10

	// DefaultClockSkew: the gateway accepts a live frame (and the hello and
	// challenge_response of a handshake) only if its ts is within ±5 s of
	// the gateway's clock, and no frame whose ts is further ahead
	// (docs/ARCHITECTURE.md, Defaults). GNSS-disciplined clocks are far
	// better; the slack is for NTP fallback and queueing. A gateway may be
	// configured otherwise (telemetry.clock_skew); this is its default.
	DefaultClockSkew = 5 * time.Second
)

// The watchdog.
const (
	// resumeMaxProofAgeIntervals: a resume is honoured only while the link
	// is demonstrably healthy, i.e. the newest answered heartbeat was sent
	// at most this many intervals ago. 1.5 covers one heartbeat in flight
	// plus jitter; a link that cannot answer heartbeats is not one to drive
	// on.
	resumeMaxProofAgeIntervals = 1.5

	// stopPollInterval is how often the watchdog asks the SafeStater
	// whether the truck has come to a stop while it is stopping.
	stopPollInterval = 100 * time.Millisecond
)

// Connection.
const (
	// DefaultHandshakeTimeout bounds dial, TLS, upgrade and the session
	// handshake together; the gateway closes an incomplete handshake after
	// its own 5 s.
	DefaultHandshakeTimeout = 5 * time.Second
	// MaxHandshakeTimeout: a handshake slower than this is a dead link.
	MaxHandshakeTimeout = time.Minute

	// DefaultWriteTimeout bounds writing one message.
	DefaultWriteTimeout = 5 * time.Second

	// maxRetryAfter caps how long a gateway's Retry-After can keep the
	// agent from dialing again.
	maxRetryAfter = 5 * time.Minute

	// DefaultReconnectMin and DefaultReconnectMax bound the reconnect
	// backoff (doubling, full jitter). A fleet that lost its gateway does
	// not come back as one synchronized wave.
	DefaultReconnectMin = 250 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	// refusedBackoffFactor × ReconnectMax (30 s by default) is the backoff
	// floor after a refusal that only an operator can fix (revoked,
	// expired, not enrolled, suspended): keep trying, since an operator may
	// fix it, but never hammer the gateway.
	refusedBackoffFactor = 6

	// crlFetchTimeout bounds fetching the CRL that tells a revoked
	// certificate from another refusal.
	crlFetchTimeout = 5 * time.Second
	// maxCRLBytes bounds a fetched CRL.
	maxCRLBytes = 4 << 20
	// maxResponseBytes bounds a batch or renewal response body.
	maxResponseBytes = 1 << 20
)

// Telemetry buffering and backfill.
const (
	// DefaultBufferFrames bounds the telemetry waiting to be sent: 10
	// minutes of 10 Hz telemetry. When full, the oldest frame is dropped
	// (and counted): for the TMS and for an investigation the newest
	// frames matter most.
	DefaultBufferFrames = 6000
	// MaxBufferFrames bounds the configuration (about 20 MB of frames
	// without ext; a frame with a maximal ext is up to 16 KiB).
	MaxBufferFrames = 50_000

	// DefaultLiveMaxAge: telemetry older than this when it is sent goes to
	// the batch path (POST /v1/vehicle/telemetry) instead of the session.
	// The gateway accepts live frames within ±DefaultClockSkew of its
	// clock; 2 s leaves room for clock offset and queueing.
	DefaultLiveMaxAge = 2 * time.Second
	// MaxLiveMaxAge: a frame sent live must still be within the gateway's
	// default skew when it arrives; the last second is for transit and
	// clock offset.
	MaxLiveMaxAge = DefaultClockSkew - time.Second

	// inflightWindow bounds telemetry frames sent on the session and not
	// yet acknowledged.
	inflightWindow = 64
	// maxBatchFrames and maxBatchBytes are the gateway's batch limits
	// (256 frames or 1 MiB).
	maxBatchFrames = 256
	maxBatchBytes  = 1 << 20
	// batchRetryMin and batchRetryMax bound the wait before a batch the
	// gateway could not take (503, 429, network) is sent again.
	batchRetryMin = 250 * time.Millisecond
	batchRetryMax = 5 * time.Second
)

// Counter.
const (
	// seqBlock is how many sequence numbers are reserved (and fsync'd) at
	// a time. A crash skips at most this many; at 11 frames a second a
	// block lasts about 90 s, so the file is written rarely.
	seqBlock = 1024
	// maxSafeInteger is the largest epoch or seq on the wire (2^53-1).
	maxSafeInteger = 1<<53 - 1
)

// Certificate renewal.
const (
	// DefaultRenewAt renews at 2/3 of the certificate's life (docs/ARCHITECTURE.md, Defaults).
	DefaultRenewAt = 2.0 / 3.0
	// DefaultRenewJitter spreads renewals by ±5 % of the life, so a fleet
	// enrolled together does not renew together.
	DefaultRenewJitter = 0.05
	// renewRetryMin and renewRetryMax bound the retry of a failed renewal.
	renewRetryMin = 30 * time.Second
	renewRetryMax = 10 * time.Minute
	// renewTimeout bounds one renewal request.
	renewTimeout = 30 * time.Second
)

// Commands.
const (
	// DefaultCommandExpiryTolerance: a command is executed only if the
	// truck's clock is at most this far past its expires_at. The same 5 s
	// as the gateway's live clock skew (DefaultClockSkew): a truck whose
	// clock runs that far ahead has its frames refused anyway, and a
	// command is never more than this late by the truck's reckoning.
	DefaultCommandExpiryTolerance = DefaultClockSkew
	// MaxCommandExpiryTolerance bounds the configuration: a minute of
	// slack is already a minute in which a withdrawn command may run.
	MaxCommandExpiryTolerance = time.Minute

	// maxQueuedCommands bounds verified commands waiting for the handler
	// (one at a time). The gateway has at most a few in flight per
	// vehicle; beyond this a command is dropped unanswered
	// (EventCommandNotAnswered) and decided when it is delivered again.
	maxQueuedCommands = 16
	// maxQueuedCommandAcks bounds answers waiting for the session writer.
	maxQueuedCommandAcks = 64

	// maxCommandLogEntries bounds the executed-command log. An answered
	// command is remembered until it is both one of the newest
	// maxCommandLogEntries and expired for commandLogRetention; a
	// redelivery of one forgotten is refused as a rollback. At the
	// gateway's pace (a few commands an hour per truck, none redelivered
	// after its expiry) it is never reached.
	maxCommandLogEntries = 1024
	// commandLogRetention: an answered command is kept at least this long
	// after its expiry, longer than the gateway ever redelivers one.
	commandLogRetention = 24 * time.Hour
)

// Stop events (ReportStop).
const (
	// MaxPendingStops bounds the stop events waiting for the gateway's
	// answer (while offline, all of them): a truck reports a handful per
	// load, so a full queue means the AV stack reports faster than any
	// load goes, and ReportStop refuses rather than grow without bound.
	MaxPendingStops = 64
)
