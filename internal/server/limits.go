package server

import "time"

// Limits of the server itself; the operator-tunable ones live in
// internal/config (defaults.go).
const (
	// readyTimeout bounds the store ping behind /readyz: load balancers probe
	// every few seconds and must get an answer, not a hung connection.
	readyTimeout = 2 * time.Second
	// readyCacheTTL is how long /readyz reuses a store ping's result, so
	// the unauthenticated probe costs the store at most one ping (on
	// SQLite, a round trip through the single writer) per second however
	// often it is called. Load balancers probe every few seconds, so they
	// still see every change within one probe interval.
	readyCacheTTL = time.Second
	// eventTimeout bounds recording a request-level security event, so a
	// slow sink cannot hold a refused request's goroutine for long.
	eventTimeout = 5 * time.Second
	// maxRequestIDLen bounds an accepted X-Request-ID: room for a UUID or a
	// 128-bit hex id with a prefix, short enough for logs and event rows.
	maxRequestIDLen = 64
	// maxUnauthenticatedSources bounds the sources (IPv4 addresses, IPv6
	// /64s) whose requests without a client certificate are rate limited
	// at once, ~200 bytes each: far more than send such requests at once
	// in normal operation (enrolling trucks, misconfigured clients). Beyond
	// it the least recently seen source is forgotten and starts again
	// with a full burst.
	maxUnauthenticatedSources = 65_536
	// cutOffGrace is how long a handler that hijacked a connection (a
	// vehicle session) has, once the connection is cut off (its
	// certificate revoked, its vehicle suspended), to close it its own
	// way, with a typed WebSocket close the vehicle can act on, before
	// the server closes the transport anyway. The session needs one write,
	// normally well under a millisecond; a peer that does not read cannot
	// hold the connection past this, and a revocation noticed within a
	// 200 ms poll is still closed inside its 1 s promise.
	cutOffGrace = 500 * time.Millisecond
	// maxDrainBytes and drainTimeout bound what the server reads and
	// discards of an HTTP/2 request body its handler did not finish (a 413,
	// a refusal before reading) so the client gets the answer rather than a
	// reset stream: a client that sent up to 4 MiB (4 × the default
	// http.max_body_bytes) gets its problem+json; beyond that, or past the
	// timeout, the stream is reset (RFC 9113 §8.1) and some clients report
	// a truncated answer. Bounded work, and no more than a client can make
	// the server read and discard on a reset stream anyway.
	maxDrainBytes = 4 << 20
	drainTimeout  = 2 * time.Second
)

// Admission bounds of each TLS listener. The per-source bounds, the
// ClientHello deadline and the certificate-less idle deadline and lifetime
// are operator-tunable (tls.* in internal/config, defaults.go); these are
// the listener-wide ceilings above them.
const (
	// maxPendingHandshakes bounds the TLS handshakes a listener runs at
	// once (each is a goroutine and, until the peer's first flight
	// arrives, a socket doing nothing). Beyond it a new connection is
	// refused at once (admission_global_limit) rather than left in the
	// kernel's accept queue, where it would wait behind every stalled one.
	// 4096 handshakes in flight is more than a fleet reconnecting at once
	// after a gateway restart produces on this machine kind (~2,800 full
	// handshakes/s per core). A silent socket holds a slot for at most
	// tls.client_hello_timeout, a stalled handshake for
	// tls.handshake_timeout; one source holds at most
	// tls.max_pending_handshakes_per_source of them.
	// config.MaxPendingHandshakesPerSource equals it.
	maxPendingHandshakes = 4096
	// maxUnauthenticatedConns bounds the connections a listener holds
	// without a client certificate (enrollment), over all sources: one
	// request per truck, a few dozen at a time at a busy depot; 4096
	// bounds the sockets and memory that sources nobody has authenticated
	// can hold, however many addresses they come from.
	// config.MaxUnauthenticatedConnsPerSource equals it.
	maxUnauthenticatedConns = 4096
	// maxQueuedUnauthenticatedEvents bounds the admission refusals waiting
	// to be recorded, so the accept loop never waits on the event sink;
	// beyond it a refusal is counted in the metrics only
	// (fifthwheel_admission_events_dropped_total). A flood produces
	// thousands of refusals a second; 1024 absorbs a burst while the sink
	// catches up.
	maxQueuedUnauthenticatedEvents = 1024
	// overloadHandshakesPerCPU × GOMAXPROCS bounds the TLS handshakes the
	// vehicle listener runs at once while the gateway is overloaded
	// (Admission.Load). A full handshake costs ~0.35 ms of CPU on the
	// server (~2,800/s per core); four in progress per CPU bound the
	// handshake work queued at once to ~1.4 ms per CPU, so a reconnect
	// storm cannot hold the CPUs the acks of the trucks already connected
	// need, while trucks that dropped off still come back.
	overloadHandshakesPerCPU = 4
)
