package agent

import (
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// EventKind names what an Event reports.
type EventKind string

// Event kinds.
const (
	// EventConnected: a session completed its handshake (ready received).
	EventConnected EventKind = "connected"
	// EventDisconnected: a session or a connection attempt ended; Err is a
	// *ConnError saying why.
	EventDisconnected EventKind = "disconnected"
	// EventHeartbeatMissed: a heartbeat was not answered by a valid ack
	// within one interval, or could not be sent (Reason says which; when
	// the gateway's answer was refused, Reason is why). Misses is the
	// number of consecutive misses.
	EventHeartbeatMissed EventKind = "heartbeat_missed"
	// EventGatewayFrameRejected: a message from the gateway failed the
	// agent's checks (Reason) and was ignored. Kind is the frame's claimed
	// kind, when it could be read at all.
	EventGatewayFrameRejected EventKind = "gateway_frame_rejected"
	// EventStopping: the watchdog started the minimal-risk maneuver.
	EventStopping EventKind = "stopping"
	// EventSafeState: the truck is stopped in safe_state.
	EventSafeState EventKind = "safe_state"
	// EventResumed: a valid resume took the truck out of safe_state.
	EventResumed EventKind = "resumed"
	// EventResumeRejected: a resume was refused (Reason) and the truck
	// stays where it is.
	EventResumeRejected EventKind = "resume_rejected"
	// EventTelemetryRejected: the gateway refused a telemetry frame for
	// good (Reason is its reason code); the frame is dropped.
	EventTelemetryRejected EventKind = "telemetry_rejected"
	// EventTelemetryDropped: the offline buffer was full; Count of the
	// oldest frames were dropped.
	EventTelemetryDropped EventKind = "telemetry_dropped"
	// EventCertificateRenewed: a renewed certificate is in use.
	EventCertificateRenewed EventKind = "certificate_renewed"
	// EventRenewalFailed: a renewal attempt failed (Err); it is retried.
	EventRenewalFailed EventKind = "renewal_failed"

	// EventCommandAnswered: a command was decided and its answer recorded
	// and queued: Verdict, Code (the reason of a rejection), CommandID,
	// CmdSeq. A business rejection (the handler's) is only this event.
	EventCommandAnswered EventKind = "command_answered"
	// EventCommandRedelivered: a command already answered came again; the
	// recorded answer was sent again and the handler not called.
	EventCommandRedelivered EventKind = "command_redelivered"
	// EventCommandRefused: for the operator. A command failed
	// authentication (Reason: unknown_key, bad_signature, wrong_vehicle,
	// command_seq_rollback, command_conflict; Code: the reason sent in the
	// rejected command_ack, "" when the frame could not be attributed and
	// none was sent). Unless Config.NoSafeStateOnCommandAttack, the truck
	// starts the minimal-risk maneuver (EventStopping follows).
	EventCommandRefused EventKind = "command_refused"
	// EventCommandNotAnswered: a verified command could not be decided or
	// its answer not recorded (Err: the executed-command log failed, or
	// the command queue was full): nothing was sent; the gateway's
	// redelivery is decided again.
	EventCommandNotAnswered EventKind = "command_not_answered"
)

// Reason is a typed reason carried by an Event.
type Reason string

// Reasons a gateway message is refused, a heartbeat missed or a resume
// ignored. Stable: the AV stack and fleet monitoring may match on them.
const (
	// ReasonUnsigned: not a signed envelope (no signature, alg "none" or
	// missing, malformed envelope).
	ReasonUnsigned Reason = "unsigned"
	// ReasonUnknownKey: signed under a kid that is not a pinned gateway key.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonBadSignature: the signature does not verify with the pinned key.
	ReasonBadSignature Reason = Reason(frame.CodeBadSignature)
	// ReasonMalformed: the signed frame does not decode.
	ReasonMalformed Reason = "malformed"
	// ReasonWrongVehicle: the frame is addressed to another vehicle.
	ReasonWrongVehicle Reason = "wrong_vehicle"
	// ReasonReplayed: the gateway's (epoch, seq) is not newer than one
	// already seen on this session, or the ack echoes a heartbeat already
	// answered.
	ReasonReplayed Reason = "replayed"
	// ReasonWrongEcho: the ack echoes no heartbeat or frame this session is
	// waiting on.
	ReasonWrongEcho Reason = "wrong_echo"
	// ReasonUnexpectedKind: a kind the gateway does not send at this point.
	ReasonUnexpectedKind Reason = codes.UnexpectedKind
	// ReasonTimeout: no answer within one interval.
	ReasonTimeout Reason = "timeout"
	// ReasonLinkDown: no session, so the heartbeat could not be sent.
	ReasonLinkDown Reason = "link_down"
	// ReasonSendFailed: writing the heartbeat failed.
	ReasonSendFailed Reason = "send_failed"
	// ReasonNacked: the gateway refused the heartbeat (a nack).
	ReasonNacked Reason = "nacked"

	// ReasonNotInSafeState: a resume while driving or still stopping.
	ReasonNotInSafeState Reason = "not_in_safe_state"
	// ReasonNoFreshChallenge: no challenge was answered on this session
	// since the truck entered safe state (a resume from another session, or
	// bound to a challenge from before the stop).
	ReasonNoFreshChallenge Reason = "no_fresh_challenge"
	// ReasonNonceMismatch: the resume is bound to another challenge nonce.
	ReasonNonceMismatch Reason = codes.NonceMismatch
	// ReasonLinkUnhealthy: heartbeats are not being answered right now.
	ReasonLinkUnhealthy Reason = "link_unhealthy"

	// ReasonCommandAuthFailure: the safe-state maneuver was started because
	// a command failed authentication (BeginStop's why; the
	// EventCommandRefused before it says which check).
	ReasonCommandAuthFailure Reason = "command_authenticity"
	// ReasonCommandSeqRollback: a command's cmd_seq is at or below the
	// highest answered, and it is no redelivery of an answered command.
	ReasonCommandSeqRollback Reason = codes.CommandSeqRollback
	// ReasonCommandConflict: an answered cmd_seq or command_id came with
	// other content.
	ReasonCommandConflict Reason = codes.CommandConflict
)

// Event is something the agent reports to the AV stack (Deps.OnEvent).
type Event struct {
	Time time.Time
	Kind EventKind
	// Reason is the typed reason, when the kind has one.
	Reason Reason
	// Code is the gateway's reason code, for nacks and refusals.
	Code string
	// FrameKind is the frame kind the event is about, when known (for
	// EventGatewayFrameRejected it is only what the message claims).
	FrameKind string
	// Seq is the vehicle sequence number concerned (the heartbeat or
	// telemetry frame), when there is one.
	Seq uint64
	// Misses is the number of consecutive missed heartbeats.
	Misses int
	// Count is how many frames an EventTelemetryDropped dropped.
	Count int
	// Err is the error, for EventDisconnected, EventRenewalFailed and
	// EventCommandNotAnswered.
	Err error
	// CommandID, CmdSeq and Verdict name a command and its answer, for
	// the command events (untrusted values when a refused command could
	// be attributed at all).
	CommandID string
	CmdSeq    uint64
	Verdict   frame.Verdict
}
