package forensics

import "time"

// Bounds of a bundle, each with the reason for it. Verify reads untrusted
// bundles: every bound is checked before the bytes are used.
const (
	// MaxFrames bounds the frames of one export: a larger window is
	// refused with ErrTooLarge (export a narrower one) rather than cut
	// silently. (An item proof carries its whole leaf, up to 256 KiB on
	// PostgreSQL, 16 KiB on SQLite: the proofs, not the frames, are what
	// fill a bundle; Export also refuses a bundle over MaxBundleSize.)
	MaxFrames = 10_000
	// MaxEvents bounds the security events of one export, likewise.
	MaxEvents = 5_000
	// MaxCommands bounds the commands of one export, likewise.
	MaxCommands = 1_000
	// MaxCommandFiles bounds one command's files: its creation, its
	// transitions (the state machine allows five), its approvals (one per
	// approver, a handful), and its issue, delivery and answer. A command
	// with more is refused with ErrTooLarge rather than cut.
	MaxCommandFiles = 32
	// MaxCerts and MaxKeys bound a vehicle's certificates and frame keys.
	MaxCerts = 1_000
	MaxKeys  = 1_000
	// MaxFiles bounds the files of a bundle: every item has a file and a
	// proof, plus certificates, keys and custody entries.
	MaxFiles = 2*(MaxFrames+MaxEvents+MaxCommands*MaxCommandFiles) + 2*MaxCerts + MaxKeys + MaxCustody + 16
	// MaxFileSize bounds one file (an item proof carries a leaf of up to
	// 256 KiB; a frame is at most 16 KiB).
	MaxFileSize = 1 << 20
	// MaxBundleSize bounds the uncompressed tar Export writes and Verify
	// reads (in memory).
	MaxBundleSize = 512 << 20
	// MaxPathLen is the USTAR name field: Export writes plain USTAR
	// headers, no PAX extensions.
	MaxPathLen = 100
	// MaxTokenLen bounds a case id, vehicle id, custodian name or
	// reference as it appears on a manifest or custody line.
	MaxTokenLen = 256
	// MaxCustody bounds the custody entries of a bundle.
	MaxCustody = 10_000
	// MaxNoteLen bounds a custody entry's note.
	MaxNoteLen = 4096
	// DefaultWait is how long Export waits for the sequencer to cover the
	// items it found pending before it lists them as not yet covered (the
	// sequencer runs every 250 ms).
	DefaultWait = 3 * time.Second
	// pollInterval is how often Export looks again while it waits.
	pollInterval = 200 * time.Millisecond
)
