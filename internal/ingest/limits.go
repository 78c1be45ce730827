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

	// DefaultRatePerSecond and DefaultBurst limit frames per vehicle. A
	// truck sends a few frames a second; backfill after an outage arrives in
	// bursts of full batches.
	DefaultRatePerSecond = 200
	DefaultBurst         = 2 * MaxBatchFrames

	// Plausibility defaults (docs/ARCHITECTURE.md, Defaults): wheel vs GNSS speed differing more
	// than 20 % above 5 m/s for 3 frames; implied speed above 60 m/s. The
	// gateway passes its plausibility.* settings (internal/config, where
	// each default's reason is).
	DefaultSpeedDisagreeRatio  = 0.20
	DefaultSpeedDisagreeMinMPS = 5.0
	DefaultSpeedDisagreeFrames = 3
	DefaultMaxImpliedSpeedMPS  = 60.0

	// MinSpeedDisagreeRatio: healthy wheel-speed sensors read a few percent
	// off GNSS (tire wear, pressure, load); below 5 % every truck
	// disagrees. MaxSpeedDisagreeRatio: two non-negative speeds never
	// differ by more than the larger, so towards 1 the rule can never fire.
	MinSpeedDisagreeRatio = 0.05
	MaxSpeedDisagreeRatio = 0.9
	// MinSpeedDisagreeMinMPS: below walking pace GNSS speed is noise.
	// MaxSpeedDisagreeMinMPS: 30 m/s (108 km/h) is above what a loaded
	// truck drives; a higher floor would turn the rule off.
	MinSpeedDisagreeMinMPS = 1.0
	MaxSpeedDisagreeMinMPS = 30.0
	// MaxSpeedDisagreeFrames: 100 frames is 10 s at 10 Hz; a longer run of
	// disagreement lets a spoofed position go unremarked for too long.
	MaxSpeedDisagreeFrames = 100
	// MinMaxImpliedSpeedMPS: 40 m/s (144 km/h) is a truck at speed plus
	// GNSS error between close fixes; lower raises findings on honest
	// driving. MaxMaxImpliedSpeedMPS: beyond the speed of sound only jumps
	// of continental size would be caught.
	MinMaxImpliedSpeedMPS = 40.0
	MaxMaxImpliedSpeedMPS = 340.0
)
