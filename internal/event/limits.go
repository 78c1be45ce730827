package event

import "time"

// Bounds on what an event may copy from input that proves nothing (a
// certificate that did not verify, a request without a client certificate,
// crypto/tls's error text). The sanitizer cuts longer values anywhere; the
// unverified-input helpers (BoundString, BoundStrings) cut far shorter.
const (
	// MaxAttrValues is how many values of a list copied from unverified
	// input an event keeps (the first ones); BoundStrings adds the count
	// and a hash of all of them. Four URI SANs tell an analyst what was
	// claimed; a certificate with 500 of them made each refusal ~62 KB.
	MaxAttrValues = 4
	// MaxAttrValueBytes bounds each value copied from unverified input: a
	// vehicle URI, a serial in hex or an error sentence fits in 256 bytes.
	MaxAttrValueBytes = 256
	// MaxAttrStringBytes is the sanitizer's backstop for any string
	// attribute: no event this gateway writes needs more, so a longer
	// value can only be input that a call site forgot to bound.
	MaxAttrStringBytes = 4 << 10
	// MaxAttrStrings is the sanitizer's backstop for any list attribute,
	// for the same reason.
	MaxAttrStrings = 64
)

// Aggregation of events about peers that have not proven who they are
// (Event.Source set; see Aggregator).
const (
	// DefaultAggregateWindow: a flood from one source costs at most
	// AggregateIndividually+1 events per key every 10 s, and a summary
	// reaches the store (and detection) at most ~10 s after its window
	// opened.
	DefaultAggregateWindow = 10 * time.Second
	// MinAggregateWindow and MaxAggregateWindow bound the configuration:
	// under a second aggregation barely aggregates; over five minutes a
	// flood's count reaches detection too late.
	MinAggregateWindow = time.Second
	MaxAggregateWindow = 5 * time.Minute
	// AggregateIndividually is how many events of one key and window are
	// recorded one by one before the rest are counted: the first gives
	// detection at once, and a peer that fails a few times (a truck with a
	// wrong clock, a typo in a join token) keeps the full detail of each
	// attempt. Beyond it a flood costs one summary per window.
	AggregateIndividually = 4
	// DefaultAggregateMaxKeys bounds the (source, class, activity, code,
	// resource, listener) windows held at once (a few hundred bytes each):
	// far above the sources that fail at once in normal operation, small
	// next to the memory of the gateway. Beyond it events fold into one
	// window per (class, activity, code, listener) with source "*".
	DefaultAggregateMaxKeys = 10_000
	// aggregateOverflowKeys bounds those overflow windows; their fields
	// are constants in code, so it is never reached in practice. Beyond it
	// events fold into one window per class.
	aggregateOverflowKeys = 1_000
	// aggregateSummaryTimeout bounds the write of the summaries of one
	// tick, made from the aggregator's own goroutine.
	aggregateSummaryTimeout = 5 * time.Second
)

// OverflowSource is the Source of events folded together from many sources
// once the aggregator holds DefaultAggregateMaxKeys windows.
const OverflowSource = "*"
