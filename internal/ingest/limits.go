package ingest

import (
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
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
	// Transports that reorder (several paths, UDP) may set up to MaxWindow,
	// the store's: as far back as it remembers which seqs heartbeats took.
	DefaultWindow = 0
	MaxWindow     = store.MaxAppendWindow

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

	// DefaultSummaryInterval is Config.SummaryInterval: how often the
	// pipeline records, per vehicle with frames stored in the interval, one
	// frames_accepted_summary event (summary.go). An accepted frame is
	// recorded by its frame row, not an event; a minute keeps the events of
	// 1,000 trucks at 1,000 a minute instead of one per frame (120,000 a
	// minute at 1 Hz heartbeats and telemetry), and is what a SIEM reads
	// as "this truck was talking".
	//
	// MinSummaryInterval and MaxSummaryInterval bound it: under a second
	// a truck's summaries cost as much as its frames' events did; beyond an
	// hour a crash loses an hour of summaries (the frame rows remain) and
	// the summaries reach detection late.
	DefaultSummaryInterval = time.Minute
	MinSummaryInterval     = time.Second
	MaxSummaryInterval     = time.Hour

	// summaryWriteTimeout bounds recording one interval's summaries, made
	// from the summary goroutine or Close, not from a frame's path.
	summaryWriteTimeout = 5 * time.Second
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

	// DefaultMaxInFlight bounds the telemetry frames admitted and not yet
	// committed, over every path (Config.MaxInFlight, telemetry.max_in_flight;
	// flow.go). Beyond it telemetry is refused with gateway_busy, before its
	// signature is checked, and the vehicle sends it again later;
	// heartbeats are never counted nor refused. 2,048 frames is eight full
	// batches: at the 6,400-7,900 durable frames/s measured on the 2-core
	// reference machine (issue 17) about 0.3 s of the store's work, so telemetry waits at the trucks, not in a queue in front of
	// the store that heartbeats and memory pay for (at most 32 MiB of
	// 16 KiB frames).
	DefaultMaxInFlight = 8 * MaxBatchFrames
	// MaxMaxInFlight bounds the setting: 16,384 frames of up to 16 KiB
	// hold 256 MiB, and seconds of the store's work, which is no longer
	// flow control. The floor is MaxBatchFrames: a full batch must fit.
	MaxMaxInFlight = 16_384

	// busyRetryAfter is the Retry-After of a batch refused gateway_busy:
	// the frames in flight drain in well under a second; the vehicle adds
	// its own jitter, so a fleet does not come back as one wave.
	busyRetryAfter = time.Second

	// busyEventWindow is how long the flow-control refusals of one vehicle
	// are counted into one summary event after the first is recorded: the
	// window of event.Aggregator, whose pattern flow.go follows.
	busyEventWindow = event.DefaultAggregateWindow
	// maxBusyWindows bounds the vehicles with an open window (a hundred
	// bytes each): above the largest fleet (ratelimit.DefaultMaxKeys). The
	// refusals of vehicles beyond it share one window without a vehicle.
	maxBusyWindows = 200_000
	// busySummaryTimeout bounds recording the summaries of one sweep.
	busySummaryTimeout = 5 * time.Second

	// The plausibility rules' thresholds, defaults and bounds are package
	// plausibility's (its limits.go); the gateway passes its plausibility.*
	// settings.
)

// Retention of raw telemetry (retention.go).
const (
	// RetentionInterval is how often serve purges frame payloads past
	// telemetry.retention (and once at start): with the default 90 days a
	// payload outlives its retention by at most this, and a run's work is
	// about ten minutes of ingest, spread over bounded store calls.
	RetentionInterval = 10 * time.Minute

	// MaxPurgeCallsPerRun bounds one run's store calls (each at most
	// store.MaxPurgeBatch rows): about 26 M rows, more than ten minutes of
	// ingest at capacity. What a run leaves, the next one takes, so a
	// first purge of a large archive never holds the writer's bulk lane
	// for hours in one go.
	MaxPurgeCallsPerRun = 100_000

	// purgeEventTimeout bounds recording a run's frames_purged event.
	purgeEventTimeout = 5 * time.Second
)
