// Package session is the gateway side of the vehicle session:
// GET /v1/vehicle/session on the vehicle listener, a WebSocket (subprotocol
// fifthwheel.v1) over TLS 1.3 with mutual TLS, in which every text message
// is one signed envelope (docs/PROTOCOL.md, "Vehicle session").
//
//	hello (vehicle) → challenge (gateway) → challenge_response (vehicle) → ready (gateway)
//	heartbeat / telemetry (vehicle) → ack or nack (gateway)
//	challenge → challenge_response → resume (gateway, to leave safe_state)
//	command (gateway, command key) → command_ack (vehicle)
//
// # Security model
//
//   - Identity comes only from the verified client certificate
//     (pki.PrincipalFromChains: VerifiedChains[0][0]); every frame's
//     vehicle_id must equal it, or the handshake is refused / the session
//     closed (vehicle_mismatch).
//   - hello and challenge_response are checked by the ingest pipeline's
//     Authenticate, the admission every frame passes (strict decoding,
//     identity, registry status and key through the pipeline's key cache,
//     signature, ts within the pipeline's ±ClockSkew), but not archived,
//     so the same input gets the same reason code on the session as on the
//     batch path; the response must sign the gateway's fresh 256-bit nonce
//     with the hello's key. A handshake that does not complete within
//     HandshakeTimeout is closed (session_handshake_timeout).
//   - Heartbeats and telemetry go through the ingest pipeline, so counters,
//     replay protection and durability hold for them as for any frame; the
//     ack is sent only after the frame and its verdict are durable, and the
//     liveness monitor hears of a heartbeat only then. A refusal is answered
//     with a signed nack carrying the pipeline's reason code. Telemetry the
//     pipeline's flow control refuses (ingest.ErrBusy) is nacked
//     gateway_busy and does not spend the vehicle's rate budget; a
//     heartbeat never is.
//   - Overload: while the moving average time to answer a frame exceeds
//     Config.OverloadLatency, new sessions are taken only into the room
//     left by the sessions held when the gateway last answered in time
//     (Handler.Load). The vehicle listener's admission asks Load before
//     each new connection's TLS handshake and closes the ones beyond it
//     (server.Admission.Load); an upgrade beyond it gets 503
//     gateway_overloaded.
//   - Everything the gateway sends is signed with its own frame key
//     (Deps.Key: the current key of package gwkey's key set, under its
//     kid), which vehicles pin, and carries the gateway's (epoch, seq),
//     strictly increasing on every connection. After a key promotion the
//     frames of a live session are signed with the new key: a vehicle that
//     pins the published keys accepts either.
//   - Commands (commands.go; with Deps.Commands, CommandStore, CommandKey):
//     once a session is established (after its fresh challenge-response),
//     and whenever a command of its vehicle is queued (the command
//     service's in-process signal, PostgreSQL's NOTIFY on
//     store.CommandsChannel to the replica holding the session, and a poll
//     every replica runs), the vehicle's queued commands are sent in
//     cmd_seq order. Each is claimed with command.Service.Deliver before
//     it is written, so the store decides once who delivers, a cancel
//     never wins after the bytes left, and a command at or past its
//     expiry is expired instead, never sent. Only the vehicle's own
//     commands are listed, and a command whose vehicle is not the
//     session's is never written. A command is signed with the gateway's
//     command key (frame.SignCommand, kid "gc-"), never the frame key,
//     under the gateway's epoch and seq; its content (cmd_seq, nonce,
//     issued_at, payload) is what the store fixed when it was queued, so
//     the delivered but unanswered commands sent again at the start of
//     every session are the same command (frame.CommandDigest) and the
//     vehicle answers them from its executed-command log.
//   - A command_ack goes through the ingest pipeline like every vehicle
//     frame (signature under the session's key, counter, replay,
//     archive); it must then name, by command_id and cmd_seq, a command
//     of this vehicle: an unknown one or another cmd_seq is refused with a
//     command_conflict event, another vehicle's with vehicle_mismatch
//     (command.Service.Answer). The first answer is recorded; the same
//     again is a no-op; a different one is a command_state_conflict event.
//     Nothing is sent back. A gateway without a command service closes a
//     session that sends one (unexpected_kind).
//   - A second session of a vehicle wins only once its handshake completes;
//     the older one is then closed (session_superseded). Sessions are closed
//     on revocation of their certificate (4003) and on suspension of their
//     vehicle (4005 vehicle_suspended), through the Tracker (in the gateway:
//     the server's admission tracking, server.HijackTracker), on a frame
//     the pipeline refuses as vehicle_suspended (4005: a session
//     established on the key cache's status in the instant after a
//     suspension ends at its first frame past the cache), on comm loss
//     (the liveness monitor), and on any protocol violation, each with a
//     close reason the vehicle can act on and one event. A revoked or
//     suspended vehicle goes offline in the liveness monitor with that
//     cause; it is never reported as comm_lost.
//   - Resume: by default the gateway resumes a vehicle that reports
//     safe_state once its session has been stable for
//     ResumeStableHeartbeats heartbeats, by a fresh challenge and a resume
//     bound to it; ManualResume leaves it to an operator (Handler.Resume).
//     The vehicle enforces the binding itself.
//
// Every connection that is upgraded records exactly one terminal event (a
// refusal, a timeout, or session_established and then one close event);
// requests refused before the upgrade record one event and get
// problem+json. Codes are in codes.go.
//
// # Compatibility
//
// Close codes and reason codes are part of the wire contract (package
// agent matches on them) and are never reused for another meaning.
package session
