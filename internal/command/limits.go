package command

import "time"

// Limits and defaults of commands, in one place. The risk policy's
// (approvals, lifetimes) are package approval's.
const (
	// MaxPayloadBytes bounds a command's payload (JSON), so the signed
	// command still fits the vehicle session's 16 KiB frame with its
	// envelope (the same bound as a telemetry ext).
	MaxPayloadBytes = 12288
	// MaxReasonBytes bounds a reason recorded with a transition.
	MaxReasonBytes = 256
	// NonceBytes is the size of a command's nonce (128 bits: never
	// repeated by chance).
	NonceBytes = 16

	// MaxCancelAttempts bounds how often Cancel re-reads a command whose
	// state moved under it (pending → approved → queued) before it gives
	// up with command_state_conflict: each retry follows a real transition,
	// and a command has few.
	MaxCancelAttempts = 4
	// DefaultExpireBatch is how many commands one Expire sweep moves.
	DefaultExpireBatch = 100
)

// SweepInterval is how often each replica runs Sweep: a command's expiry
// is enforced at delivery regardless (Deliver checks it), so the sweep
// only makes the state visible; a few seconds late is harmless.
const SweepInterval = 5 * time.Second
