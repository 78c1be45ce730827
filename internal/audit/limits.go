package audit

import "time"

// Bounds and defaults of the audit log, each with the reason for it.
const (
	// MaxLeafItems is the most items one leaf covers. A leaf's bytes (and
	// an item proof, which carries them) are 29 + 32 per item: 256 KiB at
	// this bound. Big enough that one step covers a second of the 20,000
	// items/s the ingest target asks for with room to spare, and a step
	// runs again at once while items remain. (The SQLite engine takes at
	// most store.MaxCommitRows a step: its one writer bounds each commit.)
	MaxLeafItems = 8192

	// MaxKindLen and MaxRefLen bound an item's name: the leaf encoding
	// gives them one and two length bytes, and a reference is an id, not a
	// payload.
	MaxKindLen = 32
	MaxRefLen  = 512

	// DefaultSequenceInterval is how often Run looks for pending items: a
	// checkpoint covers an item at most about this long after it was
	// appended (the issue asks for at most one second), plus the step.
	DefaultSequenceInterval = 250 * time.Millisecond

	// VerifyPage is how many leaves Verify reads at a time, so its memory
	// is bounded by a page, not by the log.
	VerifyPage = 256
	// VerifyItemPage is how many items Verify reads at a time (a leaf's
	// items are kept until the leaf is checked: at most MaxLeafItems; the
	// rows beyond are findings, not kept). With VerifyPage leaves this
	// bounds Verify's memory to a few MiB whatever the tables hold.
	VerifyItemPage = 4096

	// MaxOriginLen bounds the log's origin line (it is also the note key
	// name).
	MaxOriginLen = 128

	// MaxCheckpointBytes bounds a signed checkpoint read from a file or a
	// request (an origin, a size, a root and a few signature lines fit in
	// far less): reading one is bounded work whoever wrote it.
	MaxCheckpointBytes = 16 << 10

	// DefaultPublishEvery is how often, at most, the checkpoint is
	// published to the auditing clients' webhooks (audit.publish_webhook_every):
	// a customer's copy is at most about a minute behind, and a busy log
	// costs each auditing client one message a minute, not four a second.
	DefaultPublishEvery = time.Minute
	// MinPublishEvery bounds the configurable period from below: the
	// checkpoint changes at most every DefaultSequenceInterval, and one
	// message per client a second is already more than a receiver needs.
	MinPublishEvery = time.Second
	// PublishRetry is when a publication that failed (the store did not
	// answer) is tried again, if Every is longer.
	PublishRetry = 5 * time.Second

	// MaxCheckpointSignatures bounds the signature lines of a checkpoint:
	// the log's and witnesses' cosignatures (ignored, but parsed). A
	// witness network cosigns with a handful; note.Open stops at 100.
	MaxCheckpointSignatures = 32

	// DefaultOrigin is the origin line when the configuration names none.
	DefaultOrigin = "fifthwheel.invalid/audit"
)
