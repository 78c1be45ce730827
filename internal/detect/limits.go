package detect

import "time"

// Bounds of the rule engine. Every one keeps the memory and the work of
// detection bounded whatever the event stream holds: events about peers that
// proved nothing (floods from hosts without a certificate) reach the engine
// too, so no bound may depend on their good behaviour.
const (
	// MaxFindingEvents is how many event ids a Finding carries (the first
	// ones of its window the engine kept): enough for an analyst to start
	// from, small enough for an event attribute.
	MaxFindingEvents = 10

	// MaxKeysPerRule bounds the windows (group keys: vehicles, clients,
	// sources ...) one rule holds. Only subjects with a matching event in
	// the last window hold one, so a fleet's misbehaving vehicles fit many
	// times over. When a new key finds the rule full, the least recently
	// touched key is evicted if its window and quiet period are over (it
	// holds nothing that could fire); otherwise the new key's events are
	// counted in the rule's overflow window (subject "*"), which fires
	// like any other: a spray of sources that fills the table is itself
	// detected, never silently dropped.
	MaxKeysPerRule = 16_384
	// MaxKeys bounds the windows of all rules together, with the same
	// overflow: each key holds at most WindowSlots+1 counters and
	// MaxFindingEvents ids (under 1.5 KB), so the engine's windows stay
	// under ~100 MB in the worst case and a few KB in normal operation.
	MaxKeys = 65_536
	// WindowSlots is the resolution of a sliding window: a window is
	// counted in WindowSlots slots of window/WindowSlots each, so an event
	// leaves the count between window and window*(1+1/WindowSlots) after
	// it happened, and a key's memory does not grow with its event rate.
	WindowSlots = 16

	// MaxSubjectBytes bounds a key's subject taken from event text (a
	// source, a resource): the event package bounds them already; this
	// keeps the key table's bound independent of that.
	MaxSubjectBytes = 256

	// MaxRules bounds a rule set; the shipped one has a few dozen.
	MaxRules = 512
	// MaxRulesFileBytes bounds a rules file (the shipped one is ~20 KB).
	MaxRulesFileBytes = 1 << 20
	// MaxCodesPerRule and MaxAttrsPerRule bound one rule's match.
	MaxCodesPerRule = 128
	MaxAttrsPerRule = 16
	// MinWindow and MaxWindow bound a rule's window: under a second the
	// engine's slots are finer than event timestamps across replicas; a
	// day is longer than warm-up can replay (MaxWarmupEvents).
	MinWindow = time.Second
	MaxWindow = 24 * time.Hour
	// MaxThreshold bounds a rule's threshold (the count is an int64 sum
	// of event weights; larger thresholds are never meant).
	MaxThreshold = 1_000_000
	// MaxTextBytes bounds a rule's id, description and runbook text.
	MaxIDBytes          = 64
	MaxDescriptionBytes = 256
	MaxRunbookBytes     = 8 << 10
	// MaxReportedErrors bounds the errors a detection_rules_refused
	// event carries (the CLI prints them all).
	MaxReportedErrors = 20

	// MaxWarmupEvents bounds the events read before the cursor when the
	// engine starts (or finds it missed events another replica handled):
	// 2 × the longest window of events, at most this many, are replayed
	// through the rules without reporting, so a threshold that spans a
	// restart still counts. At ~5 µs an event, under a few seconds.
	MaxWarmupEvents = 500_000

	// ReloadPoll is how often the rules file is checked for a change
	// (size or modification time; then its hash): a second is quick for
	// an operator and costs one stat.
	ReloadPoll = time.Second

	// MaxBacktestFindings bounds the findings a backtest keeps to list
	// (Backtest): a rule that fires on every event of a long stream is
	// counted in full, listed up to this many (a few MB).
	MaxBacktestFindings = 10_000
	// BacktestPage is events per store read of a backtest: the store's
	// largest page, as the engine is faster than the reads.
	BacktestPage = 10_000

	// ReportConcurrency bounds the subjects whose findings of one page are
	// handed to the Reporter at once (each subject's in order). Each report
	// is a few store reads and a write that waits for a commit: at the
	// capacity ingest rate a commit takes ~100 ms on SQLite, so one at a
	// time filed ~9 findings a second and a fleet-wide burst fell seconds
	// behind (docs/PERFORMANCE.md, issue 22); concurrent ones share a
	// commit (SQLite's group commit) or run side by side (PostgreSQL's
	// pool).
	ReportConcurrency = 32

	// ConsumerName is the detection engine's stream consumer.
	ConsumerName = "detect"
)
