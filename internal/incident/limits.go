package incident

import "time"

// Defaults of Config. package config declares the same values for its
// `incidents:` section (configuration is data and does not import this
// package); cmd/fifthwheel's defaults test keeps them equal.
const (
	// DefaultGroupingWindow: a finding joins its subject's unresolved
	// incident when that incident's last finding is at most this old. An
	// hour keeps one attack's bursts (a replaying truck, a flooding host)
	// in one incident without folding unrelated days together.
	DefaultGroupingWindow = time.Hour
	// DefaultInternalSafety: the security team must know of a
	// safety-relevant incident within 15 minutes (the seed's SLA).
	DefaultInternalSafety = 15 * time.Minute
	// DefaultInternal: the internal clock of an incident that is not
	// safety-relevant. An hour: the on-call analyst's acknowledgement
	// target, and no later than the customer must be told.
	DefaultInternal = time.Hour
	// DefaultCustomer: the carrier whose vehicle or client is concerned is
	// told within an hour.
	DefaultCustomer = time.Hour
	// DefaultRegulatorEarlyWarning: NIS2 art. 23(4)(a), an early warning
	// within 24 hours of becoming aware of a significant incident. On by
	// default (0 turns it off): a missed regulatory deadline costs more
	// than a clock resolved as not significant.
	DefaultRegulatorEarlyWarning = 24 * time.Hour
	// DefaultRegulator: NIS2 art. 23(4)(b), the incident notification
	// within 72 hours.
	DefaultRegulator = 72 * time.Hour
	// DefaultEscalateInterval: how often the escalator looks for overdue
	// clocks. Clocks are minutes to days long; 10 s late is nothing.
	DefaultEscalateInterval = 10 * time.Second
	// DefaultRetention: a resolved incident, with everything recorded
	// about it, is kept two years from its resolution. Regulators and
	// customers ask about incidents long after they are closed (an
	// authority's follow-up on a NIS2 notification, a customer's audit,
	// an insurance claim, a UN R155 audit of the monitoring), and an
	// incident is a few rows, not a telemetry archive.
	DefaultRetention = 17520 * time.Hour
)

// Bounds.
const (
	// MaxClock bounds each clock: a year. A longer "deadline" is a typo.
	MaxClock = 365 * 24 * time.Hour
	// MaxGroupingWindow bounds the grouping window (a week).
	MaxGroupingWindow = 7 * 24 * time.Hour
	// MaxTextBytes bounds a note, a reason and a notification's
	// recipient or reference, and each stored finding's title and runbook
	// (longer findings are cut, not refused: detection must not stall).
	MaxTextBytes = 4096
	// MaxShortBytes bounds a channel name, an action's target.
	MaxShortBytes = 256
	// MaxFindingEvents bounds the event ids stored per finding.
	MaxFindingEvents = 64
	// EscalateBatch is how many due clocks one escalation pass reads.
	EscalateBatch = 100
	// MinRetention bounds the retention from below (0, keep forever,
	// aside): a month, so the post-mortem and the notifications that
	// follow a resolution are never cut short, and a unit slip (720 for
	// 720h) is refused rather than purging every resolved incident.
	MinRetention = 720 * time.Hour
	// MaxPurgeCallsPerRun bounds one retention run's store calls (each
	// at most store.IncidentPurgeBatch incidents): 6.4 million incidents,
	// far more than a fleet resolves in ten minutes. What a run leaves,
	// the next one takes.
	MaxPurgeCallsPerRun = 100_000
	// purgeEventTimeout bounds recording a run's incidents_purged event.
	purgeEventTimeout = 5 * time.Second
)
