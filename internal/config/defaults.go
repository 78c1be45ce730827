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
		TLS:    TLS{MinVersion: TLSMinVersion},
	}
}
