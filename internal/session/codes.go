package session

import "github.com/coder/websocket"

// Event codes (class authentication, activity "session" or
// "session_handshake"): stable, matched by detection rules, never reused
// for another meaning. Every connection that reaches the upgrade records
// exactly one terminal event: a handshake refusal or timeout, or
// session_established followed by exactly one close event (or pki's
// session_closed_revoked, which package pki records itself).
const (
	// CodeEstablished (accept): the handshake completed.
	CodeEstablished = "session_established"
	// CodeHandshakeTimeout (reject): no completed handshake within
	// Config.HandshakeTimeout.
	CodeHandshakeTimeout = "session_handshake_timeout"
	// CodeSuperseded: a newer session of the vehicle completed its
	// handshake; this one was closed.
	CodeSuperseded = "session_superseded"
	// CodeCommLost: the liveness monitor declared comm loss; the session
	// was closed.
	CodeCommLost = "session_closed_comm_lost"
	// CodeClosed: the vehicle closed the session (attribute cause
	// "goodbye") or the connection failed ("transport", "read_timeout").
	CodeClosed = "session_closed"
	// CodeShutdown: the gateway is shutting down.
	CodeShutdown = "session_closed_shutdown"
	// CodeProtocolViolation (reject): the vehicle broke the protocol after
	// the handshake; attribute reason names how.
	CodeProtocolViolation = "session_protocol_violation"
	// CodeResumeSent: the gateway sent a resume (attribute by: "policy" or
	// the operator).
	CodeResumeSent = "session_resume_sent"
	// CodeRateLimited (reject): the vehicle's handshake or frame rate is
	// exceeded.
	CodeRateLimited = "rate_limited"
	// CodeOverloaded (reject): the gateway answers frames too slowly to
	// take another session (Config.OverloadLatency); retry after the
	// Retry-After delay.
	CodeOverloaded = "gateway_overloaded"
	// CodeSessionLimit (reject): the gateway holds Config.MaxSessions.
	CodeSessionLimit = "session_limit"
	// CodeNotVehicle (reject): the request did not come with a vehicle
	// certificate.
	CodeNotVehicle = "unauthenticated"
	// CodeBadUpgrade (reject): not a WebSocket upgrade offering the
	// fifthwheel.v1 subprotocol.
	CodeBadUpgrade = "bad_upgrade"
	// CodeStoreUnavailable: a check could not complete; the vehicle should
	// retry (fail closed).
	CodeStoreUnavailable = "store_unavailable"
	// CodeLivenessRefused: the liveness monitor refused the session
	// (vehicle limit).
	CodeLivenessRefused = "liveness_vehicle_limit"
	// CodeVehicleForgotten: the liveness monitor forgot the vehicle.
	CodeVehicleForgotten = "vehicle_forgotten"
)

// Handshake refusal codes beyond package frame's and ingest's (which the
// handshake reuses: vehicle_mismatch, vehicle_unknown, vehicle_suspended,
// unknown_kid, retired_kid, kid_changed, clock_skew, bad_signature, ...).
const (
	// CodeUnexpectedKind: a frame of a kind not allowed at this point.
	CodeUnexpectedKind = "unexpected_kind"
	// CodeNonceMismatch: the challenge_response does not sign the
	// challenge nonce.
	CodeNonceMismatch = "nonce_mismatch"
	// CodeBinaryMessage: a binary WebSocket message (every message is one
	// envelope, as text).
	CodeBinaryMessage = "binary_message"
	// CodeTooLarge is package frame's too_large, for messages over the
	// read limit.
	CodeTooLarge = "too_large"
)

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
