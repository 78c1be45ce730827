package authz

import "time"

// The guard's limits and defaults (to be merged into limits.go). Each has a
// name, a reason, and this one home.

// Bearer token transport.
const (
	// MaxAuthorizationBytes bounds the Authorization header the guard
	// looks at: an access token the gateway issues is well under 2 KiB;
	// anything longer is refused as access_token_too_large before it is
	// parsed or handed to the verifier.
	MaxAuthorizationBytes = 8 << 10
)

// Front door: per-client token buckets.
const (
	// DefaultClientRatePerSecond is a TMS client's sustained request rate:
	// a TMS polling 50 trucks' state every few seconds stays well under it.
	DefaultClientRatePerSecond = 50
	// DefaultClientRateBurst lets a client fetch a page of vehicles and
	// their telemetry at once.
	DefaultClientRateBurst = 100
	// DefaultClientRateMaxKeys bounds the buckets held: keys are verified
	// principals, so the registry bounds them already; this is a backstop.
	DefaultClientRateMaxKeys = 10_000
)

// Risk score. The weights add up to more than 100; the score is capped at
// 100. With the default threshold (50), one factor alone never denies a
// control route, two strong ones do: a new source and one failure (25+15),
// say, does not, but a new source, an unusual rate and a failure (60) does.
const (
	// DefaultRiskThreshold: a score above it denies control routes
	// (access_risk_too_high); read routes only record it.
	DefaultRiskThreshold = 50
	// DefaultRiskWindow is how long failures and sources are remembered.
	DefaultRiskWindow = 15 * time.Minute
	// DefaultRiskFailureWeight is added per refused request of the
	// principal in the window (token refused, role, scope, source,
	// carrier), up to DefaultRiskFailureCap.
	DefaultRiskFailureWeight = 15
	DefaultRiskFailureCap    = 45
	// DefaultRiskNewSourceWeight is added when the request comes from a
	// source (event.SourceOf: an IPv4 address or an IPv6 /64) the principal
	// has not used in the window, while it has used others. A principal with
	// no history (new, or a replica just started) scores nothing here, so a
	// restart does not raise every client's score.
	DefaultRiskNewSourceWeight = 25
	// DefaultRiskRateWeight is added when the principal's requests in the
	// current RiskRateInterval exceed DefaultRiskRateFactor times its usual
	// rate (and at least DefaultRiskRateFloor requests).
	DefaultRiskRateWeight = 20
	// DefaultRiskOffHoursWeight is added outside the principal's Hours.
	DefaultRiskOffHoursWeight = 20

	// RiskRateInterval is the bucket the usual rate is measured in.
	RiskRateInterval = time.Minute
	// DefaultRiskRateFactor: "well above usual" is more than 4 times the
	// average of the past intervals.
	DefaultRiskRateFactor = 4
	// DefaultRiskRateFloor keeps a quiet client's burst of a few requests
	// from counting as unusual.
	DefaultRiskRateFloor = 60
	// RiskRateHistory is how many completed intervals a principal needs
	// before its rate counts as "usual"; the average is an exponentially
	// weighted one with weight riskRateAlpha for the newest interval.
	RiskRateHistory = 3
	riskRateAlpha   = 0.3
	// MaxRiskSources bounds the sources remembered per principal (the
	// least recently seen is forgotten), MaxRiskFailures the failures.
	MaxRiskSources  = 16
	MaxRiskFailures = 8
	// DefaultRiskMaxPrincipals bounds the principals tracked (least
	// recently seen evicted): verified principals only, so the registry
	// bounds them; this is a backstop.
	DefaultRiskMaxPrincipals = 10_000
	// MaxRiskScore is the cap of the score.
	MaxRiskScore = 100
)

// Directory cache.
const (
	// DefaultDirectoryPoll is how often CachedDirectory reads the store's
	// authority version. With 250 ms (and NOTIFY waking it at once on
	// PostgreSQL), a suspension or role removal made on any replica reaches
	// this one's decisions well inside the 1 s promise; a poll is one
	// indexed read.
	DefaultDirectoryPoll = 250 * time.Millisecond
	// MinDirectoryPoll bounds the configuration from below: a tighter poll
	// only loads the store.
	MinDirectoryPoll = 10 * time.Millisecond
	// DefaultDirectoryMaxAge is how long the cache may go without a
	// successful version read before every lookup fails closed
	// (ErrDirectoryStale: 503 store_unavailable). 2 s rides out a few
	// missed polls; during it, a change could be missed for at most that
	// long, and only if the store that records it is also failing to
	// answer the version read.
	DefaultDirectoryMaxAge = 2 * time.Second
	// MaxDirectoryMaxAge bounds the configuration: beyond it, the 1 s
	// promise on suspension and role removal means little.
	MaxDirectoryMaxAge = 10 * time.Second
	// DefaultDirectoryMaxEntries bounds the accounts cached; the least
	// recently used is dropped beyond it.
	DefaultDirectoryMaxEntries = 10_000
)

// EventTimeout bounds the write of a refusal's event, made after the
// request's own context may be gone.
const EventTimeout = 2 * time.Second
