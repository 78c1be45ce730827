package ingest

import (
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// framesDepth is the nesting depth inside the batch's "frames" array (the
// batch object is 1, the array 2): where each element starts and ends.
const framesDepth = 2

// Defaults of the pipeline, in one place. Each is a Config field too.
const (
	// Config.ClockSkew bounds |ts − gateway time| for live frames. Its
	// default is the protocol's, agent.DefaultClockSkew (±5 s), declared
	// once in package agent; the gateway passes telemetry.clock_skew.
	//
	// MaxClockSkew bounds it: a minute is far beyond any clock a truck
	// should drive on, and a wider window lets a captured frame be passed
	// off as live for longer.
	MaxClockSkew = time.Minute

	// DefaultWindow is the out-of-order window (0: strictly increasing seq).
	// Transports that reorder (several paths, UDP) may set up to MaxWindow.
	DefaultWindow = 0
	MaxWindow     = 64

	// MaxBatchFrames and MaxBatchBytes bound one POST /v1/vehicle/telemetry
	// body (docs/ARCHITECTURE.md, Defaults: 256 frames or 1 MiB).
	MaxBatchFrames = 256
	MaxBatchBytes  = 1 << 20

	// MaxBatchDepth bounds nesting of a batch body: the batch object and its
	// "frames" array, then an envelope at its own limit (the envelope object
	// and the frame's depth). Nothing a valid frame can carry nests deeper,
	// so a deeper body is refused as a whole (batch_too_deep) rather than
	// frame by frame, and reading it stops at the first level too deep.
	MaxBatchDepth = framesDepth + frame.MaxEnvelopeDepth

	// KeyCacheTTL bounds how long a looked-up key or vehicle status is reused
	// before the store is asked again: a key retired or a vehicle suspended
	// through another process or replica stops verifying within this time.
	KeyCacheTTL = time.Second

	// KeyFeedPoll is how often the key cache reads the registry change feed
	// (keyfeed.go), well inside KeyCacheTTL: a poll that fails or is late
	// only costs re-reads once KeyCacheTTL has passed since the last poll
	// that succeeded. Each poll is one indexed read of the store.
	KeyFeedPoll = 250 * time.Millisecond

	// keyFeedPage bounds the changes one poll reads. More pending than this
	// (a bulk enrollment inside one poll interval) drops the whole cache,
	// which then costs one read per active vehicle.
	keyFeedPage = 1000

	// DefaultRatePerSecond and DefaultBurst limit frames per vehicle. A
	// truck sends a few frames a second; backfill after an outage arrives in
	// bursts of full batches.
	DefaultRatePerSecond = 200
	DefaultBurst         = 2 * MaxBatchFrames

	// The plausibility rules' thresholds, defaults and bounds are package
	// plausibility's (its limits.go); the gateway passes its plausibility.*
	// settings.
)
