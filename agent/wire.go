package agent

import "github.com/coder/websocket"

// Wire constants of the vehicle session (docs/PROTOCOL.md, "Vehicle
// session"). The gateway (internal/session) declares the same values; a
// test there checks they agree.
const (
	// SessionPath is the vehicle session's WebSocket endpoint.
	SessionPath = "/v1/vehicle/session"
	// TelemetryPath is the batch (backfill) path.
	TelemetryPath = "/v1/vehicle/telemetry"
	// RenewPath is the certificate renewal endpoint.
	RenewPath = "/v1/pki/renew"
	// Subprotocol is the WebSocket subprotocol both ends require.
	Subprotocol = "fifthwheel.v1"
)

// WebSocket close status codes the gateway uses. The close reason is always
// a stable reason code (docs/PROTOCOL.md); the status gives its class.
const (
	// CloseGoodbye (1000): a deliberate, orderly end (the vehicle parks or
	// shuts down; the agent sends it when Run's context ends).
	CloseGoodbye = websocket.StatusNormalClosure
	// CloseGoingAway (1001): the gateway is shutting down; reconnect.
	CloseGoingAway = websocket.StatusGoingAway
	// CloseTryAgainLater (1013): the gateway could not complete a check
	// (store or revocation data unavailable) or is at its session limit.
	CloseTryAgainLater = websocket.StatusTryAgainLater
	// CloseCommLost (4000): the gateway declared comm loss for this session.
	CloseCommLost websocket.StatusCode = 4000
	// CloseSuperseded (4001): a newer session of this vehicle completed
	// its handshake.
	CloseSuperseded websocket.StatusCode = 4001
	// CloseHandshakeTimeout (4002): the handshake did not complete in time.
	CloseHandshakeTimeout websocket.StatusCode = 4002
	// CloseRevoked (4003): the session's certificate was revoked.
	CloseRevoked websocket.StatusCode = 4003
	// CloseProtocol (4004): the vehicle broke the protocol; the reason
	// names how.
	CloseProtocol websocket.StatusCode = 4004
	// CloseRefused (4005): the gateway refuses this vehicle (unknown,
	// suspended, unknown or retired frame key); the reason names why.
	CloseRefused websocket.StatusCode = 4005
)
