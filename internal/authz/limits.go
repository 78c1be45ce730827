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
