// Package agent is the vehicle side of fifthwheel: what an AV stack embeds
// to keep a truck supervised by the gateway. It imports packages frame and
// codes and well-kept libraries only (nothing under internal/), so an AV
// team can vendor the three packages alone.
//
// An Agent holds the truck's session with the gateway (WebSocket over TLS
// 1.3 with mutual TLS, docs/PROTOCOL.md "Vehicle session"), signs and sends
// heartbeats and telemetry with its own persisted (epoch, seq) counter,
// buffers telemetry while offline and backfills it in order, renews its
// certificate, and runs the heartbeat watchdog and safe-state machine:
//
//	a, err := agent.New(cfg, agent.Identity{Chain: chain, TLSKey: tlsKey,
//		FrameKey: frameKey, FrameKID: kid}, agent.Deps{SafeStater: av, CommandHandler: av})
//	go a.Run(ctx)
//	a.SendTelemetry(time.Now(), t)
//
// # Security model
//
//   - Identity is the truck's certificate (its urn:fifthwheel:vehicle URI
//     name); the gateway takes it from the verified TLS chain and nowhere
//     else. The TLS key and the frame-signing key are separate
//     crypto.Signers, so a TPM or secure element can hold both.
//   - The gateway is authenticated twice: its TLS certificate must chain to
//     Config.GatewayCAPEM, and every session frame it sends must be signed
//     by a pinned gateway frame key (Config.GatewayFrameKeys), addressed to
//     this truck, and newer (by the gateway's (epoch, seq)) than every
//     frame before it on the session. Anything else is ignored and reported
//     (EventGatewayFrameRejected with a typed Reason).
//   - A heartbeat counts as answered only by such an ack echoing its seq
//     within one interval. After Config.Misses intervals without an
//     answered heartbeat, the watchdog starts the minimal-risk maneuver
//     through the SafeStater (driving → stopping → safe_state). Nothing but
//     an answered heartbeat resets it: reconnecting does not, so a flapping
//     link cannot keep a truck driving. The watchdog runs whether or not
//     there is a session.
//   - The truck leaves safe_state only on a gateway-signed resume bound to
//     a challenge it answered on the current session after it stopped,
//     once per challenge, while its heartbeats are being answered; never
//     because the link came back. The agent starts in safe_state: after a
//     restart the truck waits for the gateway's resume.
//   - Commands (docs/PROTOCOL.md "Commands") must be signed by a pinned
//     gateway command key (Config.GatewayCommandKeys: a purpose of its
//     own; a frame key never authorizes a command), addressed to this
//     truck, carry a cmd_seq above every one answered (persisted in the
//     executed-command log beside the counter) and not be expired by the
//     truck's clock beyond Config.CommandExpiryTolerance. The
//     CommandHandler is called at most once per command, ever: the log
//     records the command as executing before the call and the answer
//     after, and only then is the signed command_ack sent; a redelivery
//     gets the recorded answer again, and a command whose handler was
//     interrupted by a restart is answered command_interrupted, never run
//     again. A command that fails authentication (bad signature, unpinned
//     key, another truck's, a rolled-back or conflicting cmd_seq) raises
//     EventCommandRefused for the operator and starts the safe-state
//     maneuver (Config.NoSafeStateOnCommandAttack turns that off); a
//     business rejection by the handler does not.
//   - Frames are signed with strictly increasing (epoch, seq), reserved on
//     disk before use (Counter), so a crash never reuses a seq. Telemetry
//     is signed when it is sent, not when it is queued, so heartbeats sent
//     while it waits never make it stale at the gateway; frames already
//     signed whose fate is unknown are resent byte for byte, before
//     anything newer.
//   - Connection failures reach the AV stack as a *ConnError of one kind:
//     revoked, expired, not enrolled, suspended, network or protocol. The
//     kind of a gateway's reason code is the one package codes gives it (a
//     code this version does not know goes by its close or HTTP status),
//     and only the codes it calls transient make a nacked frame be sent
//     again. A TLS refusal is called revoked only with the issuer's signed
//     CRL as proof, and a TLS alert counts only from the gateway the agent
//     authenticated: one received before the TLS handshake completed,
//     which anyone on the path can forge, is a network error retried with
//     the normal backoff.
//
// # Tracking
//
// ReportStop sends a signed stop_event for a stop of a load the truck was
// dispatched (arrived, loaded, departed, delivered) and returns the
// gateway's answer: nil once recorded (a report is recorded once, so it
// may be repeated after a restart), a *StopRefusedError with the reason
// code otherwise. It waits while offline, at most MaxPendingStops at a
// time. SetETA sets the estimate of the next arrival that every telemetry
// frame carries until ClearETA.
//
// # Offline buffering
//
// Up to Config.BufferFrames telemetry frames wait while there is no
// session; when full, the oldest is dropped (EventTelemetryDropped with the
// count): for the TMS and for an investigation the newest frames matter
// most. The buffer is in memory: a restart loses it. On reconnect, frames
// younger than Config.LiveMaxAge go on the session; older ones through the
// batch path (POST /v1/vehicle/telemetry), in order, and only once the
// gateway has answered every frame sent on the session, heartbeats
// included: the gateway decides the two paths against one counter on
// different goroutines, so a batch must not overtake an undecided session
// frame (it would be refused stale_counter), nor the reverse.
//
// When the gateway cannot take telemetry now (a nack or a 429 with
// gateway_busy or rate_limited, refused before it looked: nothing stored),
// the telemetry goes back to the buffer and is sent again after a jittered
// backoff (at least the gateway's Retry-After), signed anew; a frame whose
// fate is unknown (a session ended before its answer, store_unavailable)
// is resent byte for byte, and signed anew only once the gateway answers
// stale_counter, which proves it was never stored. Heartbeats never wait
// for telemetry's backoff: telemetry yields, never liveness.
//
// # Compatibility
//
// The wire protocol is versioned by frame's v member and the WebSocket
// subprotocol (fifthwheel.v1). The Go API follows semantic import
// versioning; until fifthwheel's first tagged release it may still change.
package agent
