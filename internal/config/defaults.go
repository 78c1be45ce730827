package config

import (
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
)

// Defaults. Every default value has a name and a reason, here and nowhere
// else; the bounds Validate enforces follow them. Values that are the
// protocol's (heartbeat timing, clock skew) refer to package agent, their one
// home, which a truck vendors; the plausibility rules' refer to package
// plausibility. The domain packages' own defaults, for a zero
// Config of theirs, must equal these: cmd/fifthwheel's
// TestConfigDefaultsMatchTheLibraries checks them.
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
	// DefaultMaxBodyBytes is the telemetry batch limit (docs/ARCHITECTURE.md: 256 frames
	// or 1 MiB); no request the gateway serves needs more.
	DefaultMaxBodyBytes = 1 << 20

	// DefaultHeartbeatInterval and DefaultHeartbeatMisses: a heartbeat every
	// second and three missed mean comm loss, detected within ~3 s
	// (docs/ARCHITECTURE.md, Defaults). They are the protocol's, declared once in
	// package agent (the truck's watchdog counts the same misses).
	DefaultHeartbeatInterval = agent.DefaultHeartbeatInterval
	DefaultHeartbeatMisses   = agent.DefaultMisses

	// DefaultLogLevel logs lifecycle and errors without per-request noise.
	DefaultLogLevel = "info"
	// DefaultLogFormat is JSON, for log shippers.
	DefaultLogFormat = "json"

	// DefaultEventsFile sits in the data directory so a SIEM shipper finds it
	// beside the state it describes.
	DefaultEventsFile = "events.jsonl"
	// DefaultAggregateWindow: a flood from one source without a credential
	// costs a handful of events per kind every 10 s (about 1 KB each), and
	// its summary reaches detection ~10 s after the flood began. Equals
	// event.DefaultAggregateWindow.
	DefaultAggregateWindow = 10 * time.Second

	// TLSMinVersion is fixed: TLS 1.2 and below are refused by design.
	TLSMinVersion = "1.3"
	// DefaultHandshakeTimeout bounds a TLS handshake: a truck on a poor
	// cellular link needs a few round trips (~1 s); 10 s leaves margin while
	// a client that stalls its handshake cannot hold a socket for long.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultUnauthenticatedRate and DefaultUnauthenticatedBurst: the
	// simulator enrolls a fleet from one address as fast as the gateway
	// issues, 10,000 trucks in ~30 s (~330 enrollments/s, one request each;
	// docs/PERFORMANCE.md), and a depot behind one NAT address powers up
	// trucks in batches. 500/s with a burst of 1,000 (two seconds) stays
	// above that, while one source without a certificate can no longer make
	// the gateway parse CSRs and look up tokens as fast as it can send.
	DefaultUnauthenticatedRate  = 500
	DefaultUnauthenticatedBurst = 1000
	// DefaultClientHelloTimeout: a client sends its ClientHello in the same
	// round trip that completes TCP, so even a poor cellular link (~1 s
	// RTT) delivers its first byte well within 2 s; a socket that says
	// nothing is cut 5 times sooner than by the handshake timeout, so a
	// host opening idle sockets holds each for 2 s, not 10 s.
	DefaultClientHelloTimeout = 2 * time.Second
	// DefaultMaxPendingHandshakesPerSource: 256 handshakes in progress from
	// one address is ~0.1 s of handshake work on one core (~2,800/s), so a
	// fleet behind one NAT, or the simulator's 1,000-2,000 trucks from
	// 127.0.0.1 ramping at 100/s, never meets it in steady state; after a
	// gateway restart the excess is refused at once and retried by the
	// agents' jittered backoff, rather than queued past their 5 s timeout.
	// One host then holds at most 1/16 of the listener's 4,096 slots.
	DefaultMaxPendingHandshakesPerSource = 256
	// DefaultMaxUnauthenticatedConnsPerSource: only enrollment is served
	// without a certificate, one short request per truck; the simulator
	// enrolls 16 at once by default, and a depot bringing up trucks behind
	// one address rarely does more than a few dozen in the same second.
	DefaultMaxUnauthenticatedConnsPerSource = 64
	// DefaultUnauthenticatedIdleTimeout: an enrolling truck sends its
	// request right after the handshake and closes after the answer, so
	// 10 s without a request in progress means it is not enrolling
	// (issue 15: at most 10 s).
	DefaultUnauthenticatedIdleTimeout = 10 * time.Second
	// DefaultUnauthenticatedMaxLifetime: enrollment is one request of a few
	// KiB answered in milliseconds; a minute covers it on the slowest link
	// and bounds a connection kept busy with requests that never enroll.
	DefaultUnauthenticatedMaxLifetime = time.Minute

	// DefaultPKIDir keeps the CA beside the state it serves.
	DefaultPKIDir = "pki"
	// DefaultServerNames: the loopback names, so the defaults (loopback
	// listeners) give a certificate that matches; a gateway on a network
	// lists its DNS names and addresses.
	DefaultServerNames = "localhost,127.0.0.1,::1"
	// DefaultRevocationPoll: a poll every 200 ms is one indexed read and
	// keeps revocation (and suspension: the vehicle status feed polls at the
	// same pace) made on another process or replica well inside the 1 s
	// promise (invariant 6, docs/ARCHITECTURE.md). Equals pki.DefaultRevocationPoll.
	DefaultRevocationPoll = 200 * time.Millisecond
	// DefaultRevocationMaxAge rides out a 10 s store hiccup before handshakes
	// fail closed. Equals pki.DefaultRevocationMaxAge.
	DefaultRevocationMaxAge = 10 * time.Second
	// DefaultEnrollment: vehicles enroll themselves with a join token, on
	// the vehicle port (issue 3), so it is on.
	DefaultEnrollment = true
	// DefaultRenewPerMinute and DefaultRenewBurst: a truck renews once per
	// certificate life and retries a failure after 30 s at the earliest;
	// two a minute with a burst of five is far above that, and holds a loop
	// renewing a stolen certificate to the same. Equal
	// enroll.DefaultRenewPerMinute and enroll.DefaultRenewBurst.
	DefaultRenewPerMinute = 2
	DefaultRenewBurst     = 5

	// DefaultTelemetryRate and DefaultTelemetryBurst: a truck sends a few
	// frames a second; backfill after an outage comes in full batches of
	// 256, so two batches may arrive at once. Equal ingest.DefaultRatePerSecond
	// and ingest.DefaultBurst.
	DefaultTelemetryRate  = 200
	DefaultTelemetryBurst = 512
	// DefaultAuditPublishWebhookEvery: a customer's copy of the checkpoint
	// at most about a minute behind, one message a minute per auditing
	// client. Equal audit.DefaultPublishEvery; at least
	// MinAuditPublishWebhookEvery (audit.MinPublishEvery) unless 0 (off).
	DefaultAuditPublishWebhookEvery = time.Minute
	MinAuditPublishWebhookEvery     = time.Second
	// DefaultAcceptedSummaryInterval: one frames_accepted_summary event
	// per vehicle and minute instead of one event per accepted frame (120
	// a minute for a truck at 1 Hz heartbeats and telemetry); the frame
	// rows are the record. Equal ingest.DefaultSummaryInterval.
	DefaultAcceptedSummaryInterval = time.Minute
	// DefaultClockSkew: ±5 s (docs/ARCHITECTURE.md, Defaults); GNSS-disciplined clocks
	// are far better, the slack is for NTP fallback and queueing. The
	// protocol's, declared in package agent (its live/backfill split
	// depends on it).
	DefaultClockSkew = agent.DefaultClockSkew
	// DefaultWindow 0: seq strictly increases; HTTPS and the session do not
	// reorder.
	DefaultWindow = 0
	// DefaultTelemetryMaxInFlight: eight full batches, about 0.3 s of the
	// store's work on the 2-core reference machine, so telemetry waits at
	// the trucks rather than in a queue in front of the store. Equals
	// ingest.DefaultMaxInFlight.
	DefaultTelemetryMaxInFlight = 2048
	// DefaultRetention: raw telemetry is kept 90 days (docs/ARCHITECTURE.md,
	// Defaults; issue 21), long enough for an incident found weeks later to
	// be exported with its frames.
	DefaultRetention = 90 * 24 * time.Hour

	// DefaultSessionHandshakeTimeout: a vehicle that has not completed
	// hello → challenge → challenge_response within 5 s is closed. A healthy
	// cellular link needs two round trips (well under 1 s); 5 s tolerates a
	// bad one without letting half-open handshakes pile up. Equals
	// session.DefaultHandshakeTimeout.
	DefaultSessionHandshakeTimeout = 5 * time.Second
	// DefaultSessionWriteTimeout: a gateway frame is a few hundred bytes; a
	// write that takes 5 s is a stalled peer. Equals
	// session.DefaultWriteTimeout.
	DefaultSessionWriteTimeout = 5 * time.Second
	// DefaultResumeStableHeartbeats: with the 1 s interval, a link stable
	// for about 3 s resumes a truck in safe_state; a link that flaps faster
	// never does. Equals session.DefaultResumeStableHeartbeats.
	DefaultResumeStableHeartbeats = 3
	// DefaultMaxSessions: above the largest fleet one gateway serves
	// (100,000 trucks). Equals session.DefaultMaxSessions.
	DefaultMaxSessions = 100_000
	// DefaultOverloadLatency: a quarter of the default heartbeat interval.
	// While answering a frame takes longer on average, acks are still well
	// inside the interval the trucks wait, and refusing new sessions keeps
	// them so (docs/OPERATIONS.md, "Capacity and the heartbeat path").
	// Lower it with a shorter heartbeat.interval.
	DefaultOverloadLatency = DefaultHeartbeatInterval / 4
	// DefaultSessionHandshakeRate and DefaultSessionHandshakeBurst: a truck
	// on a flapping link reconnects about once a second, which fits; a
	// reconnect loop (a bug, a cloned identity) gets 429 rather than costing
	// a signature check and store reads each time. Equal
	// session.DefaultHandshakeRate and session.DefaultHandshakeBurst.
	DefaultSessionHandshakeRate  = 1.0
	DefaultSessionHandshakeBurst = 10

	// DefaultSpeedDisagreeRatio, DefaultSpeedDisagreeMinMPS,
	// DefaultSpeedDisagreeFrames and DefaultMaxImpliedSpeedMPS
	// (docs/ARCHITECTURE.md, Defaults): wheel and GNSS speed differing by
	// more than 20 % above 5 m/s for 3 consecutive frames; an implied speed
	// above 60 m/s is a jump. The rules', declared with their reasons in
	// package plausibility.
	DefaultSpeedDisagreeRatio  = plausibility.DefaultSpeedDisagreeRatio
	DefaultSpeedDisagreeMinMPS = plausibility.DefaultSpeedDisagreeMinMPS
	DefaultSpeedDisagreeFrames = plausibility.DefaultSpeedDisagreeFrames
	DefaultMaxImpliedSpeedMPS  = plausibility.DefaultMaxImpliedSpeedMPS
	// DefaultOperatingArea is empty: where a fleet may drive is the
	// carrier's to say; with no area the outside_operating_area rule is off.
	DefaultOperatingArea = ""
)

// Bounds Validate enforces.
const (
	// MinHeartbeatInterval and MaxHeartbeatInterval: faster than 500 ms costs
	// bandwidth on cellular links for no gain; slower than 3 s cannot detect
	// comm loss within the safe-state budget. The agent's bounds, so every
	// interval an operator can set is one a truck accepts.
	MinHeartbeatInterval = agent.MinHeartbeatInterval
	MaxHeartbeatInterval = agent.MaxHeartbeatInterval
	// MinHeartbeatMisses and MaxHeartbeatMisses: one miss would trip safe
	// state on a single lost packet; more than ten delays detection too long.
	// The agent's bounds.
	MinHeartbeatMisses = agent.MinMisses
	MaxHeartbeatMisses = agent.MaxMisses

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
	// MaxUnauthenticatedRate bounds tls.unauthenticated_requests_per_second
	// and tls.unauthenticated_burst: room for a relay enrolling many depots
	// through one address; there is no "unlimited".
	MaxUnauthenticatedRate = 100_000
	// MinAggregateWindow and MaxAggregateWindow bound
	// events.aggregate_window (event.MinAggregateWindow,
	// event.MaxAggregateWindow): under a second aggregation barely
	// aggregates; over five minutes a flood's count reaches detection too
	// late.
	MinAggregateWindow = time.Second
	MaxAggregateWindow = 5 * time.Minute
	// MaxPendingHandshakesPerSource bounds
	// tls.max_pending_handshakes_per_source: more than the listener's
	// whole bound (server.maxPendingHandshakes) would mean no per-source
	// bound at all.
	MaxPendingHandshakesPerSource = 4096
	// MaxUnauthenticatedConnsPerSource bounds
	// tls.max_unauthenticated_conns_per_source the same way
	// (server.maxUnauthenticatedConns).
	MaxUnauthenticatedConnsPerSource = 4096
	// MinUnauthenticatedIdleTimeout and MaxUnauthenticatedIdleTimeout
	// bound tls.unauthenticated_idle_timeout: below 100 ms an enrolling
	// truck on a slow link could be cut before its request arrives; above
	// 10 s certificate-less sockets pile up (issue 15).
	MinUnauthenticatedIdleTimeout = 100 * time.Millisecond
	MaxUnauthenticatedIdleTimeout = 10 * time.Second
	// MaxUnauthenticatedMaxLifetime bounds
	// tls.unauthenticated_max_lifetime: a certificate-less connection has
	// one request to make.
	MaxUnauthenticatedMaxLifetime = 10 * time.Minute
	// MaxTelemetryRate bounds telemetry.rate_per_second: far above any
	// truck, for load tests and gateways fed by a trusted relay. There is
	// no "unlimited": a limiter that never limits is a bug (docs/ARCHITECTURE.md, Design rules).
	MaxTelemetryRate = 1_000_000
	// MaxRenewPerMinute and MaxRenewBurst bound pki.renew_per_minute and
	// pki.renew_burst: ten renewals a second per principal is already a
	// load test, not a fleet; there is no "unlimited".
	MaxRenewPerMinute = 600
	MaxRenewBurst     = 1000
	// MaxClockSkew bounds telemetry.clock_skew: a wider window lets a
	// captured frame pass for live longer (ingest.MaxClockSkew, which
	// refuses more).
	MaxClockSkew = time.Minute
	// MaxWindow bounds telemetry.window (ingest.MaxWindow).
	MaxWindow = 64
	// MinAcceptedSummaryInterval and MaxAcceptedSummaryInterval bound
	// telemetry.accepted_summary_interval (ingest.MinSummaryInterval,
	// ingest.MaxSummaryInterval): under a second the summaries cost what
	// one event per frame did; beyond an hour a crash loses an hour of them
	// and they reach detection late.
	MinAcceptedSummaryInterval = time.Second
	MaxAcceptedSummaryInterval = time.Hour
	// MaxServerNames bounds pki.server_names (pki.MaxGatewaySANs).
	MaxServerNames = 32
	// MinTelemetryBurst: a burst below one full batch (256 frames) would
	// refuse every full backfill batch.
	MinTelemetryBurst = 256
	// MinTelemetryMaxInFlight and MaxTelemetryMaxInFlight bound
	// telemetry.max_in_flight: a full batch (256 frames) must fit, and
	// 16,384 frames of up to 16 KiB hold 256 MiB and seconds of the
	// store's work, which is no longer flow control (ingest.MaxBatchFrames,
	// ingest.MaxMaxInFlight).
	MinTelemetryMaxInFlight = 256
	MaxTelemetryMaxInFlight = 16_384
	// MinRetention bounds telemetry.retention from below (0, keep forever,
	// aside): a shorter one would purge frames a live investigation is
	// still reading, and is far likelier a unit mistake (24 for 24h).
	MinRetention = 24 * time.Hour

	// MaxSessionHandshakeTimeout bounds session.handshake_timeout: beyond
	// 30 s half-open handshakes pile up (session.MaxHandshakeTimeout).
	MaxSessionHandshakeTimeout = 30 * time.Second
	// MaxSessionWriteTimeout bounds session.write_timeout
	// (session.MaxWriteTimeout).
	MaxSessionWriteTimeout = time.Minute
	// MaxResumeStableHeartbeats bounds session.resume_stable_heartbeats: a
	// minute of heartbeats is already a manual resume in all but name
	// (session.MaxResumeStableHeartbeats).
	MaxResumeStableHeartbeats = 60
	// MaxMaxSessions bounds session.max_sessions (session.MaxMaxSessions).
	MaxMaxSessions = 1_000_000
	// MinOverloadLatency bounds session.overload_latency from below: a
	// healthy gateway under load answers in 5–10 ms on average
	// (docs/OPERATIONS.md), so a lower threshold would refuse sessions all
	// the time. From above it must be less than heartbeat.interval: an
	// answer slower than the interval is already a miss.
	MinOverloadLatency = 10 * time.Millisecond
	// MinSessionHandshakeRate, MaxSessionHandshakeRate and
	// MaxSessionHandshakeBurst bound session.handshake_rate and
	// session.handshake_burst: a rate of 0 would lock a vehicle out for good
	// once its burst is spent, so the floor is one handshake per 100 s;
	// beyond the ceilings a vehicle is looping, not reconnecting, and there
	// is no "unlimited" (session.MaxHandshakeRate, session.MaxHandshakeBurst).
	MinSessionHandshakeRate  = 0.01
	MaxSessionHandshakeRate  = 10.0
	MaxSessionHandshakeBurst = 100

	// The bounds of plausibility.*: the rules', declared with their reasons
	// in package plausibility (speed_disagree_frames is at least 1).
	MinSpeedDisagreeRatio    = plausibility.MinSpeedDisagreeRatio
	MaxSpeedDisagreeRatio    = plausibility.MaxSpeedDisagreeRatio
	MinSpeedDisagreeMinMPS   = plausibility.MinSpeedDisagreeMinMPS
	MaxSpeedDisagreeMinMPS   = plausibility.MaxSpeedDisagreeMinMPS
	MaxSpeedDisagreeFrames   = plausibility.MaxSpeedDisagreeFrames
	MinMaxImpliedSpeedMPS    = plausibility.MinMaxImpliedSpeedMPS
	MaxMaxImpliedSpeedMPS    = plausibility.MaxMaxImpliedSpeedMPS
	MaxOperatingAreaVertices = plausibility.MaxAreaVertices
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
		Log: Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		// Detection is on unless switched off: a gateway that does not
		// watch its own events misses what they say.
		Detect: Detect{Enabled: true},
		Events: Events{File: DefaultEventsFile, AggregateWindow: DefaultAggregateWindow,
			MaxSize: DefaultEventsMaxSize, MaxAge: DefaultEventsMaxAge, Keep: DefaultEventsKeep, KeepAge: DefaultEventsKeepAge},
		SIEM: SIEM{
			Syslog:  SIEMSyslog{Facility: DefaultSyslogFacility, SDID: DefaultSyslogSDID},
			Webhook: SIEMWebhook{Batch: DefaultSIEMWebhookBatch, MaxAttempts: DefaultSIEMWebhookMaxAttempts, MaxAge: DefaultSIEMWebhookMaxAge, Timeout: DefaultSIEMWebhookTimeout},
			NATS:    SIEMNATS{SubjectPrefix: DefaultNATSSubjectPrefix, Stream: DefaultNATSStream},
		},
		TLS: TLS{
			MinVersion:                       TLSMinVersion,
			HandshakeTimeout:                 DefaultHandshakeTimeout,
			ClientHelloTimeout:               DefaultClientHelloTimeout,
			MaxPendingHandshakesPerSource:    DefaultMaxPendingHandshakesPerSource,
			MaxUnauthenticatedConnsPerSource: DefaultMaxUnauthenticatedConnsPerSource,
			UnauthenticatedIdleTimeout:       DefaultUnauthenticatedIdleTimeout,
			UnauthenticatedMaxLifetime:       DefaultUnauthenticatedMaxLifetime,
			UnauthenticatedRequestsPerSecond: DefaultUnauthenticatedRate,
			UnauthenticatedBurst:             DefaultUnauthenticatedBurst,
		},
		PKI: PKI{
			Dir:              DefaultPKIDir,
			ServerNames:      DefaultServerNames,
			RevocationPoll:   DefaultRevocationPoll,
			RevocationMaxAge: DefaultRevocationMaxAge,
			Enrollment:       DefaultEnrollment,
			RenewPerMinute:   DefaultRenewPerMinute,
			RenewBurst:       DefaultRenewBurst,
		},
		Telemetry: Telemetry{
			RatePerSecond: DefaultTelemetryRate,
			Burst:         DefaultTelemetryBurst,
			ClockSkew:     DefaultClockSkew,
			Window:        DefaultWindow,

			AcceptedSummaryInterval: DefaultAcceptedSummaryInterval,
			MaxInFlight:             DefaultTelemetryMaxInFlight,
			Retention:               DefaultRetention,
		},
		Session: Session{
			HandshakeTimeout:       DefaultSessionHandshakeTimeout,
			WriteTimeout:           DefaultSessionWriteTimeout,
			ResumeStableHeartbeats: DefaultResumeStableHeartbeats,
			MaxSessions:            DefaultMaxSessions,
			OverloadLatency:        DefaultOverloadLatency,
			HandshakeRate:          DefaultSessionHandshakeRate,
			HandshakeBurst:         DefaultSessionHandshakeBurst,
		},
		Plausibility: Plausibility{
			SpeedDisagreeRatio:  DefaultSpeedDisagreeRatio,
			SpeedDisagreeMinMPS: DefaultSpeedDisagreeMinMPS,
			SpeedDisagreeFrames: DefaultSpeedDisagreeFrames,
			MaxImpliedSpeedMPS:  DefaultMaxImpliedSpeedMPS,
			OperatingArea:       DefaultOperatingArea,
		},
		Access: Access{
			TokenAlg:      DefaultAccessTokenAlg,
			RatePerSecond: DefaultAccessRatePerSecond,
			Burst:         DefaultAccessBurst,
			RiskThreshold: DefaultAccessRiskThreshold,
			DirectoryPoll: DefaultAccessDirectoryPoll,
		},
		Audit: Audit{PublishWebhookEvery: DefaultAuditPublishWebhookEvery},
		Incidents: Incidents{
			GroupingWindow:   DefaultIncidentGroupingWindow,
			EscalateInterval: DefaultIncidentEscalateInterval,
			Clocks: IncidentClocks{
				InternalSafety:        DefaultIncidentInternalSafety,
				Internal:              DefaultIncidentInternal,
				Customer:              DefaultIncidentCustomer,
				RegulatorEarlyWarning: DefaultIncidentRegulatorEarlyWarning,
				Regulator:             DefaultIncidentRegulator,
			},
			Retention: DefaultIncidentRetention,
		},
		Commands: Commands{
			HazmatApprovals:      approval.DefaultHazmatApprovals,
			HeavyGrossKg:         approval.DefaultHeavyGrossKg,
			HeavyApprovals:       approval.DefaultHeavyApprovals,
			RouteUpdateApprovals: approval.DefaultRouteUpdateApprovals,
			HandoverApprovals:    approval.DefaultHandoverApprovals,
			RiskThreshold:        approval.DefaultRiskThreshold,
			RiskExtraApprovals:   approval.DefaultRiskExtraApprovals,
			ApprovalLifetime:     approval.DefaultApprovalTTL,
			Lifetime:             approval.DefaultCommandTTL,
			MaxLifetime:          approval.MaxCommandTTL,
		},
	}
}

// The commands' risk policy: its defaults and bounds are package
// approval's (internal/approval/limits.go, with their reasons), their one
// home; the configuration reads them from there.

// TMS access. Configuration is data and does not import package authz,
// which holds the reasons; cmd/fifthwheel's defaults test checks that these
// equal authz's own defaults.
const (
	// DefaultAccessTokenAlg: Ed25519 signatures are small and fast to
	// verify; ES256 is there for verifiers that lack EdDSA.
	DefaultAccessTokenAlg = "EdDSA"
	// DefaultAccessRatePerSecond and DefaultAccessBurst: a TMS polling its
	// fleet stays well under them.
	DefaultAccessRatePerSecond = 50
	DefaultAccessBurst         = 100
	// DefaultAccessRiskThreshold: two of the risk factors refuse control.
	DefaultAccessRiskThreshold = 50
	// DefaultAccessDirectoryPoll keeps suspensions and role changes within
	// the 1 s budget on SQLite, where nothing notifies.
	DefaultAccessDirectoryPoll = 250 * time.Millisecond
	// MaxAccessRatePerSecond and MaxAccessBurst bound one client's budget.
	MaxAccessRatePerSecond = 10_000
	MaxAccessBurst         = 100_000
	// MaxAccessDirectoryPoll: beyond it a suspension would miss its 1 s.
	MaxAccessDirectoryPoll = 500 * time.Millisecond
)

// Incidents (package incident declares the same defaults; cmd/fifthwheel's
// defaults test keeps them equal, as configuration does not import it).
const (
	// DefaultIncidentGroupingWindow: one attack's bursts stay one incident
	// without folding unrelated days together.
	DefaultIncidentGroupingWindow = time.Hour
	// DefaultIncidentEscalateInterval: clocks are minutes to days long;
	// an escalation 10 s late is nothing.
	DefaultIncidentEscalateInterval = 10 * time.Second
	// DefaultIncidentInternalSafety: the security team knows of a
	// safety-relevant incident within 15 minutes (the seed's SLA).
	DefaultIncidentInternalSafety = 15 * time.Minute
	// DefaultIncidentInternal: any other incident is acknowledged within
	// the hour, no later than the customer is told.
	DefaultIncidentInternal = time.Hour
	// DefaultIncidentCustomer: the carrier concerned within an hour.
	DefaultIncidentCustomer = time.Hour
	// DefaultIncidentRegulatorEarlyWarning: NIS2 art. 23(4)(a), 24 hours.
	DefaultIncidentRegulatorEarlyWarning = 24 * time.Hour
	// DefaultIncidentRegulator: NIS2 art. 23(4)(b), 72 hours.
	DefaultIncidentRegulator = 72 * time.Hour
	// DefaultIncidentRetention: a resolved incident is kept two years from
	// its resolution. Regulators and customers ask about incidents long
	// after they are closed (an authority's follow-up on a NIS2
	// notification, a customer's audit, an insurance claim, a UN R155
	// audit of the monitoring), and an incident is a few rows, not a
	// telemetry archive.
	DefaultIncidentRetention = 17520 * time.Hour
	// MinIncidentRetention bounds incidents.retention from below (0, keep
	// forever, aside): a month, so a post-mortem and the notifications
	// that follow a resolution are never cut short, and a unit slip (720
	// for 720h) is refused rather than purging every resolved incident.
	MinIncidentRetention = 720 * time.Hour
	// MaxIncidentClock bounds a clock (a year: longer is a typo);
	// MaxIncidentGroupingWindow the grouping window (a week).
	MaxIncidentClock          = 365 * 24 * time.Hour
	MaxIncidentGroupingWindow = 7 * 24 * time.Hour
)

// The events file's rotation and the SIEM sinks. The same values are the
// siem package's defaults (a test there checks they agree); the reasons
// are in internal/siem/limits.go.
const (
	DefaultEventsMaxSize = 100 << 20
	DefaultEventsMaxAge  = 24 * time.Hour
	DefaultEventsKeep    = 30
	DefaultEventsKeepAge = 30 * 24 * time.Hour

	DefaultSyslogFacility = 10
	DefaultSyslogSDID     = "fifthwheel@32473"

	DefaultSIEMWebhookBatch       = 100
	DefaultSIEMWebhookMaxAttempts = 10
	DefaultSIEMWebhookMaxAge      = time.Hour
	DefaultSIEMWebhookTimeout     = 10 * time.Second

	DefaultNATSSubjectPrefix = "fifthwheel.events"
	DefaultNATSStream        = "FIFTHWHEEL_EVENTS"

	// Bounds of the settings.
	MinEventsMaxSize      = 64 << 10
	MaxEventsMaxSize      = 1 << 40
	MinEventsMaxAge       = time.Minute
	MaxEventsKeep         = 100000
	MinEventsKeepAge      = time.Hour
	MaxSIEMWebhookBatch   = 1000
	MaxSIEMWebhookAttempt = 1000
	MaxSIEMWebhookTimeout = 2 * time.Minute
)
