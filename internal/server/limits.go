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
	// maxLoggedPathLen bounds the request path copied into events and logs.
	maxLoggedPathLen = 256
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

// maxPendingHandshakes bounds the TLS handshakes a listener runs at once
// (each is a goroutine and, until the peer's first flight arrives, a socket
// doing nothing). Beyond it new connections wait in the kernel's accept
// queue. 4096 handshakes in flight is more than a fleet reconnecting at once
// after a gateway restart produces on this machine kind (~2,800 full
// handshakes/s per core), yet bounds what stalled handshakes can hold to
// about 4096 × handshake_timeout.
const maxPendingHandshakes = 4096
