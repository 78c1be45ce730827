package config

import "time"

// Defaults. Every default value has a name and a reason, here and nowhere
// else; the bounds Validate enforces follow them.
const (
	// DefaultListenVehicle, DefaultListenTMS and DefaultListenOps bind to
	// loopback: exposing the gateway to a network is a decision an operator
	// makes in the configuration, never an accident of the defaults.
	DefaultListenVehicle = "127.0.0.1:8443"
	DefaultListenTMS     = "127.0.0.1:9443"
	DefaultListenOps     = "127.0.0.1:9090"

	// DefaultReadHeaderTimeout closes a connection whose client trickles its
	// request headers (slowloris); a real client sends them in one round trip.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request: a 1 MiB batch over
	// a slow cellular uplink (~1 Mbit/s) takes ~8 s; 30 s leaves margin
	// without letting a slow sender hold a connection for long.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing a response, for the same reason.
	// Long-lived vehicle sessions extend their own deadlines.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout keeps keep-alive connections long enough to spare
	// trucks and the TMS a TLS handshake per request (~360 µs of server CPU
	// each), short enough that idle sockets do not pile up.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultShutdownTimeout gives in-flight requests time to finish on
	// SIGTERM; below the 30 s most supervisors wait before SIGKILL.
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultMaxHeaderBytes: our clients send a few short headers and a
	// bearer token of a few KiB; 16 KiB leaves room while refusing header
	// floods (Go's own default is 1 MiB).
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxBodyBytes is the telemetry batch limit (DESIGN.md: 256 frames
	// or 1 MiB); no request the gateway serves needs more.
	DefaultMaxBodyBytes = 1 << 20

	// DefaultHeartbeatInterval and DefaultHeartbeatMisses: a heartbeat every
	// second and three missed mean comm loss, detected within ~3 s
	// (DESIGN.md, Defaults).
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatMisses   = 3

	// DefaultLogLevel logs lifecycle and errors without per-request noise.
	DefaultLogLevel = "info"
	// DefaultLogFormat is JSON, for log shippers.
	DefaultLogFormat = "json"

	// DefaultEventsFile sits in the data directory so a SIEM shipper finds it
	// beside the state it describes.
	DefaultEventsFile = "events.jsonl"

	// TLSMinVersion is fixed: TLS 1.2 and below are refused by design.
	TLSMinVersion = "1.3"
	// DefaultHandshakeTimeout bounds a TLS handshake: a truck on a poor
	// cellular link needs a few round trips (~1 s); 10 s leaves margin while
	// a client that stalls its handshake cannot hold a socket for long.
	DefaultHandshakeTimeout = 10 * time.Second

	// DefaultPKIDir keeps the CA beside the state it serves.
	DefaultPKIDir = "pki"
	// DefaultServerNames: the loopback names, so the defaults (loopback
	// listeners) give a certificate that matches; a gateway on a network
	// lists its DNS names and addresses.
	DefaultServerNames = "localhost,127.0.0.1,::1"
	// DefaultRevocationPoll: a poll every 200 ms is one indexed read and
	// keeps revocation (and suspension: the vehicle status feed polls at the
	// same pace) made on another process or replica well inside the 1 s
	// promise (DESIGN.md invariant 6). Equals pki.DefaultRevocationPoll.
	DefaultRevocationPoll = 200 * time.Millisecond
	// DefaultRevocationMaxAge rides out a 10 s store hiccup before handshakes
	// fail closed. Equals pki.DefaultRevocationMaxAge.
	DefaultRevocationMaxAge = 10 * time.Second
	// DefaultEnrollment: vehicles enroll themselves with a join token, on
	// the vehicle port (issue 3), so it is on.
	DefaultEnrollment = true

	// DefaultTelemetryRate and DefaultTelemetryBurst: a truck sends a few
	// frames a second; backfill after an outage comes in full batches of
	// 256, so two batches may arrive at once. Equal ingest.DefaultRatePerSecond
	// and ingest.DefaultBurst.
	DefaultTelemetryRate  = 200
	DefaultTelemetryBurst = 512
	// DefaultClockSkew: ±5 s (DESIGN.md defaults); GNSS-disciplined clocks
	// are far better, the slack is for NTP fallback and queueing.
	DefaultClockSkew = 5 * time.Second
	// DefaultWindow 0: seq strictly increases; HTTPS and the session do not
	// reorder.
	DefaultWindow = 0
)

// Bounds Validate enforces.
const (
	// MinHeartbeatInterval and MaxHeartbeatInterval: faster than 500 ms costs
	// bandwidth on cellular links for no gain; slower than 3 s cannot detect
	// comm loss within the safe-state budget.
	MinHeartbeatInterval = 500 * time.Millisecond
	MaxHeartbeatInterval = 3 * time.Second
	// MinHeartbeatMisses and MaxHeartbeatMisses: one miss would trip safe
	// state on a single lost packet; more than ten delays detection too long.
	MinHeartbeatMisses = 2
	MaxHeartbeatMisses = 10

	// MaxTimeout bounds every HTTP timeout: beyond it a timeout stops
	// protecting anything.
	MaxTimeout = 10 * time.Minute
	// MinMaxHeaderBytes and MaxMaxHeaderBytes bound http.max_header_bytes.
	MinMaxHeaderBytes = 4 << 10
	MaxMaxHeaderBytes = 1 << 20
	// MinMaxBodyBytes and MaxMaxBodyBytes bound http.max_body_bytes.
	MinMaxBodyBytes = 1 << 10
	MaxMaxBodyBytes = 64 << 20

	// MaxFileBytes bounds a configuration file; real ones are a few KiB.
	MaxFileBytes = 1 << 20

	// MinRevocationPoll and MaxRevocationPoll: below 10 ms polling is load
	// for nothing; above 500 ms a revocation seen only by polling (SQLite,
	// or PostgreSQL with LISTEN down) could miss the 1 s promise.
	MinRevocationPoll = 10 * time.Millisecond
	MaxRevocationPoll = 500 * time.Millisecond
	// MaxRevocationMaxAge is the CRL validity (5 min): our own listeners must
	// not be laxer than any relying party. It must exceed the poll interval.
	MaxRevocationMaxAge = 5 * time.Minute
	// MaxHandshakeTimeout bounds tls.handshake_timeout.
	MaxHandshakeTimeout = time.Minute
	// MaxTelemetryRate bounds telemetry.rate_per_second: far above any
	// truck, for load tests and gateways fed by a trusted relay. There is
	// no "unlimited": a limiter that never limits is a bug (DESIGN.md).
	MaxTelemetryRate = 1_000_000
	// MaxClockSkew bounds telemetry.clock_skew (ingest refuses more).
	MaxClockSkew = time.Minute
	// MaxWindow bounds telemetry.window (ingest.MaxWindow).
	MaxWindow = 64
	// MaxServerNames bounds pki.server_names (pki.MaxGatewaySANs).
	MaxServerNames = 32
	// MinTelemetryBurst: a burst below one full batch (256 frames) would
	// refuse every full backfill batch.
	MinTelemetryBurst = 256
)

// Default returns the built-in configuration. It has no store location:
// Validate requires data_dir or store_url, because where the gateway keeps its
// state is never guessed.
func Default() Config {
	return Config{
		Listen: Listen{
			Vehicle: DefaultListenVehicle,
			TMS:     DefaultListenTMS,
			Ops:     DefaultListenOps,
		},
		HTTP: HTTP{
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			ReadTimeout:       DefaultReadTimeout,
			WriteTimeout:      DefaultWriteTimeout,
			IdleTimeout:       DefaultIdleTimeout,
			ShutdownTimeout:   DefaultShutdownTimeout,
			MaxHeaderBytes:    DefaultMaxHeaderBytes,
			MaxBodyBytes:      DefaultMaxBodyBytes,
		},
		Heartbeat: Heartbeat{
			Interval: DefaultHeartbeatInterval,
			Misses:   DefaultHeartbeatMisses,
		},
		Log:    Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Events: Events{File: DefaultEventsFile},
		TLS:    TLS{MinVersion: TLSMinVersion, HandshakeTimeout: DefaultHandshakeTimeout},
		PKI: PKI{
			Dir:              DefaultPKIDir,
			ServerNames:      DefaultServerNames,
			RevocationPoll:   DefaultRevocationPoll,
			RevocationMaxAge: DefaultRevocationMaxAge,
			Enrollment:       DefaultEnrollment,
		},
		Telemetry: Telemetry{
			RatePerSecond: DefaultTelemetryRate,
			Burst:         DefaultTelemetryBurst,
			ClockSkew:     DefaultClockSkew,
			Window:        DefaultWindow,
		},
	}
}
