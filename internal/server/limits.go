package server

import "time"

// Limits of the server itself; the operator-tunable ones live in
// internal/config (defaults.go).
const (
	// readyTimeout bounds the store ping behind /readyz: load balancers probe
	// every few seconds and must get an answer, not a hung connection.
	readyTimeout = 2 * time.Second
	// eventTimeout bounds recording a request-level security event, so a
	// slow sink cannot hold a refused request's goroutine for long.
	eventTimeout = 5 * time.Second
	// maxRequestIDLen bounds an accepted X-Request-ID: room for a UUID or a
	// 128-bit hex id with a prefix, short enough for logs and event rows.
	maxRequestIDLen = 64
	// maxLoggedPathLen bounds the request path copied into events and logs.
	maxLoggedPathLen = 256
	// cutOffGrace is how long a handler that hijacked a connection (a
	// vehicle session) has, once the connection is cut off (its
	// certificate revoked, its vehicle suspended), to close it its own
	// way, with a typed WebSocket close the vehicle can act on, before
	// the server closes the transport anyway. The session needs one write,
	// normally well under a millisecond; a peer that does not read cannot
	// hold the connection past this, and a revocation noticed within a
	// 200 ms poll is still closed inside its 1 s promise.
	cutOffGrace = 500 * time.Millisecond
)

// maxPendingHandshakes bounds the TLS handshakes a listener runs at once
// (each is a goroutine and, until the peer's first flight arrives, a socket
// doing nothing). Beyond it new connections wait in the kernel's accept
// queue. 4096 handshakes in flight is more than a fleet reconnecting at once
// after a gateway restart produces on this machine kind (~2,800 full
// handshakes/s per core), yet bounds what stalled handshakes can hold to
// about 4096 × handshake_timeout.
const maxPendingHandshakes = 4096
