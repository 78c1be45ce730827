package session

import "github.com/coder/websocket"

// The session's reason codes are package codes' (codes.Session*, and the
// handshake's refusals: package frame's and the admission's). Every
// connection that reaches the upgrade records exactly one terminal event: a
// handshake refusal or timeout, or session_established followed by exactly
// one close event (or pki's session_closed_revoked, which package pki
// records itself).

// WebSocket paths, subprotocol and close status codes (docs/PROTOCOL.md,
// "Vehicle session"). Package agent declares the same; a test checks that
// they agree.
const (
	Path        = "/v1/vehicle/session"
	Subprotocol = "fifthwheel.v1"

	CloseGoodbye                               = websocket.StatusNormalClosure // 1000
	CloseGoingAway                             = websocket.StatusGoingAway     // 1001
	CloseTryAgainLater                         = websocket.StatusTryAgainLater // 1013
	CloseCommLost         websocket.StatusCode = 4000
	CloseSuperseded       websocket.StatusCode = 4001
	CloseHandshakeTimeout websocket.StatusCode = 4002
	CloseRevoked          websocket.StatusCode = 4003
	CloseProtocol         websocket.StatusCode = 4004
	CloseRefused          websocket.StatusCode = 4005
)
