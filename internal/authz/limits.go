package authz

import "time"

// Token lifetimes (issue 19). A token is a bearer credential bound to a
// certificate: short lives bound what a stolen token and its stolen key can
// do, and control scopes act on trucks, so they live shortest.
const (
	// ControlTokenLifetime is the lifetime of a token carrying any
	// control scope (Scope.Control).
	ControlTokenLifetime = 5 * time.Minute
	// ReadTokenLifetime is the lifetime of a read-only token.
	ReadTokenLifetime = 15 * time.Minute
	// MaxTokenLifetime is the longest lifetime the gateway issues; a token
	// whose exp - iat is longer was not issued by this gateway's rules and
	// is refused (access_token_claims_invalid).
	MaxTokenLifetime = ReadTokenLifetime
	// Leeway is the clock skew tolerated on exp, nbf and iat (issue 19:
	// at most 30 s). Replicas share NTP; TMS clients do not check times.
	Leeway = 30 * time.Second
)

// Token size bounds, enforced before any parsing so a hostile header costs
// O(len) and no allocation.
const (
	// MaxTokenBytes bounds the compact token. Ours are about 900 bytes
	// (Ed25519) to 1 KiB (ES256); 8 KiB leaves room for longer principal
	// ids and scope lists and still refuses a header built to exhaust.
	MaxTokenBytes = 8 << 10
	// MaxTokenHeaderBytes bounds the encoded protected header. Ours is
	// about 120 bytes: alg, kid (43), typ.
	MaxTokenHeaderBytes = 512
	// MaxVerifiedTokens bounds each of the two generations of the
	// verified-token cache (a TMS client reuses its token for minutes, so
	// signature and claims are checked once per token, not per request).
	// An entry is about 400 bytes: 2 × 4096 entries stay under 4 MiB.
	MaxVerifiedTokens = 4096
)

// Token-signing keys.
const (
	// DefaultKeyRefreshInterval is how often KeySet.Run reloads the key
	// table, so every replica signs with the newest key within this
	// interval of a rotation.
	DefaultKeyRefreshInterval = 5 * time.Second
	// MaxKeySetStaleness is how old the loaded key table may grow when the
	// store cannot be read before the key set fails closed
	// (token_key_unavailable): a replica cut off from the store must not
	// keep publishing or honouring keys an operator has since retired.
	MaxKeySetStaleness = time.Minute
	// KeyMissRefreshInterval bounds the reloads a token with an unknown
	// kid triggers (a token another replica signed with a key this one
	// has not loaded yet): at most one per interval, whatever the callers
	// send.
	KeyMissRefreshInterval = time.Second
	// KeyMissRefreshTimeout bounds that reload on the request path.
	KeyMissRefreshTimeout = 2 * time.Second
	// KeyPublishMargin is how long a retired key stays published past its
	// retirement: its last token (signed just before the retirement, or by
	// a replica that has not reloaded yet, up to DefaultKeyRefreshInterval
	// later) lives MaxTokenLifetime plus Leeway. One minute of margin
	// covers the reload lag and slow refresh loops.
	KeyPublishMargin = MaxTokenLifetime + Leeway + time.Minute
	// MaxPublishedKeys bounds the keys a KeySet loads and publishes: the
	// active one plus retired ones still in their overlap. Rotating more
	// often than MaxPublishedKeys times in KeyPublishMargin keeps only the
	// newest, and tokens of older keys fail with access_token_unknown_kid.
	MaxPublishedKeys = 16
)

// Token endpoint bounds.
const (
	// MaxTokenRequestBytes bounds the token request body: grant_type,
	// scope (every scope is about 150 bytes) and client_id fit in far less.
	MaxTokenRequestBytes = 4 << 10
	// EmitTimeout bounds the event write of the token endpoint once the
	// request is done or cancelled.
	EmitTimeout = 2 * time.Second
)

// The guard's limits and defaults.

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
