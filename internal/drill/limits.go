package drill

import "time"

const (
	// DefaultDrillTimeout bounds one drill: enrollment, the attack and the
	// wait for its event. A drill that has not finished by then fails.
	// The longest drills need ~20 s on a correct gateway with its default
	// settings: the flood waits out the 10 s aggregation window for its
	// summaries, the flapping drill a comm loss, three flaps and a resume
	// hold-down. A gateway with a longer events.aggregate_window or
	// heartbeat interval needs a longer --timeout.
	DefaultDrillTimeout = 30 * time.Second
	// DefaultParallel is how many non-exclusive drills run at once: each
	// is a few TLS handshakes and requests, and the gateway under test
	// shares the machine.
	DefaultParallel = 4
	// DefaultEventWait is how long a drill waits for the gateway's event to be
	// readable in the store after the refusal was answered: the event
	// bus writes before the answer in the common case, the wait covers a
	// loaded machine.
	DefaultEventWait = 5 * time.Second
	// eventPoll is the pause between two reads of the event store.
	eventPoll = 25 * time.Millisecond
	// requestTimeout bounds one HTTP request or TLS handshake of a drill.
	requestTimeout = 10 * time.Second
	// RevocationSLA: a revocation is effective within 1 s: handshakes
	// refused and live sessions closed (docs/THREATMODEL.md, compromised
	// keys; the figure cmd/fifthwheel's typed-close tests hold).
	RevocationSLA = time.Second
	// IncidentSLA: a telemetry replay opens an incident within 1 s of
	// being sent (issue 22; the figure TestAttackReplayedFrameDetected
	// holds on both engines): the refusal's event is committed, the
	// detection consumer reads it (it polls every 100 ms when idle), its
	// rule fires and the incident is stored.
	IncidentSLA = time.Second
	// drillCruiseSpeed is the blackout drill truck's speed when its link
	// goes silent: 25 m/s (90 km/h), a truck on a motorway, whose stop
	// takes about 11 s of the 15 s safe-state SLA.
	drillCruiseSpeed = 25.0
	// incidentPoll is the pause between two reads of a vehicle's
	// incident or of the stream consumers' cursors.
	incidentPoll = 20 * time.Millisecond
	// siemWaitFactor × the event wait (--event-wait; 15 s by default)
	// bounds the wait for a SIEM sink to deliver an event, and for the
	// detection consumer to catch up: a sink retries a failed batch with
	// back-off, so a healthy one delivers within seconds.
	siemWaitFactor = 3
	// raceRenewers is how many chained renewers race the revocation in
	// the revocation-racing-renewal drill (as in issue 15's attack), and
	// raceBefore how many renewals they obtain before the revocation
	// starts: within the gateway's default renewal burst (5), so that
	// some are left to race it.
	raceRenewers = 3
	raceBefore   = 2
	// raceMaxAttempts bounds each renewer's requests and racePause is
	// its pause between two, raceRetryPause after a refusal (each is an
	// event on the gateway): a few seconds of race at most, whatever the
	// gateway's renewal limit.
	raceMaxAttempts = 40
	racePause       = 25 * time.Millisecond
	raceRetryPause  = 100 * time.Millisecond
	// raceMaxHeld bounds the certificates the renewers collect (each is
	// checked, and listed in the report): against a gateway whose
	// renewal limit is high, they stop renewing once they hold this many.
	raceMaxHeld = 24
	// raceSetupWait bounds the wait for the renewals before the
	// revocation.
	raceSetupWait = 5 * time.Second
	// raceMeasureLimit is how long after the revocation the drill keeps
	// measuring when its certificates are refused, beyond which it gives
	// up (the timing is then over its SLA).
	raceMeasureLimit = RevocationSLA + 2*time.Second
	// racePoll is the pause between two rounds of handshakes with the
	// certificates not refused yet.
	racePoll = 25 * time.Millisecond
	// truckPoll is the pause between two looks at a drill truck's state
	// or its link.
	truckPoll = 10 * time.Millisecond
	// maxTruckEvents bounds the agent events a drill truck keeps: a drill
	// lasts seconds, with a few events a second.
	maxTruckEvents = 10000
	// maxEvidenceEvents bounds the events kept per drill in the report.
	maxEvidenceEvents = 20
)

// The flapping, handshake-stall and flood drills.
const (
	// flapCycles is how often the flapping drill's link comes up and goes
	// down again before it stays up.
	flapCycles = 3
	// flapReconnectMin and flapReconnectMax are the flapping drill
	// truck's reconnect backoff: far shorter than the agent's defaults, so
	// that it reconnects in every window the link is up (the worst case for
	// the resume rule; with the defaults it could miss a window and the
	// drill would prove less).
	flapReconnectMin = 50 * time.Millisecond
	flapReconnectMax = 500 * time.Millisecond
	// flapMargin is how much shorter, in heartbeat intervals, the link
	// stays up in each flap than the gateway's resume hold-down
	// (session.resume_stable_heartbeats accepted heartbeats, the first
	// sent at once, so (N-1) intervals after the session starts): half an
	// interval, far above the drill's scheduling jitter, so that a
	// correct gateway never resumes within a flap.
	flapMargin = 0.5
	// flapDown is how long, in heartbeat intervals, the link stays down in
	// each flap: at least one heartbeat is lost, so no session survives
	// a flap.
	flapDown = 1.5

	// HandshakeStallSLA: while one source stalls its maximum of handshakes
	// on the vehicle listener, a vehicle from another source completes its
	// mutual-TLS handshake and a request within 1 s (issue 15; the figure
	// internal/server's TestAttackHandshakeStall holds).
	HandshakeStallSLA = time.Second
	// stallExcess is how many silent sockets the stall drill opens beyond
	// the gateway's tls.max_pending_handshakes_per_source: each must be
	// refused on accept.
	stallExcess = 64
	// stallDialers is how many sockets the stall drill opens at once.
	stallDialers = 16
	// stallRefusedWithin: a socket the gateway refuses on accept is reset
	// at once; one it admitted waits for its ClientHello (2 s by default).
	// The drill reads each socket for this long to tell them apart.
	stallRefusedWithin = 500 * time.Millisecond
	// stallVehicleTries is how many mutual-TLS handshakes the fresh
	// vehicle makes during the stall; the slowest is measured.
	stallVehicleTries = 3

	// floodFor is how long the flood drill's source sends, as fast as its
	// few workers can: a few thousand refusals, each of which the gateway
	// would otherwise record one by one.
	floodFor = 2 * time.Second
	// floodHandshakers and floodRequesters are the flood's workers:
	// handshakes with a self-signed certificate, and certificate-less
	// requests on one HTTP/2 connection.
	floodHandshakers = 2
	floodRequesters  = 4
	// floodEventKinds bounds the kinds of event the flood can cause
	// (tls_unknown_authority, tls_anonymous, client_certificate_required,
	// rate_limited, admission_unauthenticated_limit, tls_handshake_failed).
	// With aggregation each kind of event from the source costs at most
	// event.AggregateIndividually events recorded one by one and one
	// summary per aggregation window; floodEventBound multiplies them out.
	floodEventKinds = 6
	// aggregateTick is how late after its window an aggregated summary may
	// be written (the aggregator checks its windows once a second at most).
	aggregateTick = time.Second

	// loopbackAttackSource is where the drills attacking from a host
	// without a certificate dial from against a loopback gateway: another
	// source than the drill trucks' 127.0.0.1 for the per-source bounds.
	loopbackAttackSource = "127.0.0.2"
)

const (
	// maxTMSBody bounds what a TMS access drill reads of one answer: the
	// gateway's problems and tokens are far smaller.
	maxTMSBody = 64 << 10
	// revokeMeasureLimit is how long the revoked-client drill keeps
	// sending the token after the revocation before it calls the token
	// still admitted: beyond RevocationSLA, so that a late refusal is
	// measured (and fails its SLA) rather than cut short.
	revokeMeasureLimit = RevocationSLA + 2*time.Second
)

// The command drills.
const (
	// commandQuietWait is how long a command drill watches its truck after
	// a dispatch that must not reach it: a few heartbeat intervals, far
	// beyond the gateway's delivery of an approved command to a truck in
	// session (milliseconds).
	commandQuietWait = 3 * time.Second
	// commandAcceptWait bounds the wait for an approved command to be
	// delivered, executed and answered.
	commandAcceptWait = 10 * time.Second
	// commandRedeliveryWait is how long the retry drill goes on watching
	// its truck after the command was accepted and retried, for a second
	// execution.
	commandRedeliveryWait = time.Second
	// commandReplayWait bounds the wait for a drill truck's agent to
	// report what it made of an injected envelope.
	commandReplayWait = 5 * time.Second
	// commandExpiresIn is the lifetime the blackout drill gives its
	// dispatch: enough to post it, far less than the blackout.
	commandExpiresIn = 3 * time.Second
	// commandExpireWait bounds the wait for the gateway's sweep to mark
	// an expired command (it runs every few seconds).
	commandExpireWait = 15 * time.Second
)

// The on-path terminator (onpath.go).
const (
	// onPathCertLifetime is its throw-away certificates' lifetime: a run.
	onPathCertLifetime = time.Hour
	// onPathHandshakeTimeout bounds each of its two TLS handshakes.
	onPathHandshakeTimeout = 10 * time.Second
	// onPathMaxHead bounds an HTTP/1.1 response head it reads.
	onPathMaxHead = 16 << 10
	// onPathMaxFrame bounds a WebSocket frame it relays: the gateway's
	// envelopes are far smaller (frame.MaxEnvelopeSize).
	onPathMaxFrame = 1 << 20
	// maxOnPathCommands bounds the command envelopes it keeps.
	maxOnPathCommands = 64
)
