package pki

import "time"

// Certificate lifetimes. Defaults follow docs/ARCHITECTURE.md; the Max values bound what
// Config may ask for, so a typo cannot mint a decade-long vehicle certificate.
const (
	// DefaultVehicleLifetime is short because vehicles renew automatically
	// (at 2/3 of life) and a stolen vehicle key is worthless a day later even
	// if its revocation were somehow missed.
	DefaultVehicleLifetime = 24 * time.Hour
	// MaxVehicleLifetime allows a fleet that parks for a long weekend without
	// connectivity to come back without re-enrollment.
	MaxVehicleLifetime = 7 * 24 * time.Hour

	// DefaultClientLifetime: TMS integrations renew from a server, usually by
	// an operator-run job; a month keeps that job cheap to run.
	DefaultClientLifetime = 30 * 24 * time.Hour
	// MaxClientLifetime bounds TMS client certificates to one quarter.
	MaxClientLifetime = 90 * 24 * time.Hour

	// DefaultOperatorLifetime is one working shift: operators act on the
	// fleet (revocations, approvals) and get a fresh certificate each shift.
	DefaultOperatorLifetime = 12 * time.Hour
	// MaxOperatorLifetime is for break-glass operator certificates.
	MaxOperatorLifetime = 30 * 24 * time.Hour

	// DefaultGatewayLifetime matches common server-certificate practice.
	DefaultGatewayLifetime = 90 * 24 * time.Hour
	// MaxGatewayLifetime is the CA/Browser Forum ceiling, for familiarity.
	MaxGatewayLifetime = 397 * 24 * time.Hour

	// DefaultRootLifetime: the root is offline and changing it means
	// redistributing trust to every vehicle, so it lives long.
	DefaultRootLifetime = 10 * 365 * 24 * time.Hour
	// DefaultIntermediateLifetime: the intermediate key is online; rotating
	// it yearly bounds the damage of an undetected compromise.
	DefaultIntermediateLifetime = 365 * 24 * time.Hour
	// MaxIntermediateLifetime bounds an online key's exposure.
	MaxIntermediateLifetime = 5 * 365 * 24 * time.Hour

	// OCSPResponderLifetime is the life of the delegated OCSP responder
	// certificate. Its key lives only in memory and it carries
	// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), so it cannot be revoked in
	// any useful way: keep it short.
	OCSPResponderLifetime = 24 * time.Hour
	// OCSPResponderRenewBefore: the responder certificate is replaced when
	// less than this remains, well before relying parties could see it
	// expire inside a response's validity.
	OCSPResponderRenewBefore = 8 * time.Hour

	// DrillForgeryLifetime is the life of the CA-flagged vehicle
	// certificate IssueDrillCACertificate mints for the drill that shows the
	// listeners refuse it: a drill lasts seconds, and the forgery is also
	// revoked when it ends.
	DrillForgeryLifetime = 5 * time.Minute
)

// Renewal of the gateway's own certificates.
const (
	// RenewAtNumerator / RenewAtDenominator is the fraction of a
	// certificate's life after which its holder replaces it (DESIGN.md:
	// 2/3): a third of the life is left to retry through an outage of the
	// CA or the store. RenewDue applies it.
	RenewAtNumerator   = 2
	RenewAtDenominator = 3
	// DefaultServerCertCheckInterval is how often a running gateway checks
	// its server certificate (ServerCert.Run): an hour is nothing against
	// a 90-day certificate renewed with 30 days left, and bounds how long a
	// revoked one, or one from a retired intermediate, stays in use.
	DefaultServerCertCheckInterval = time.Hour
)

// SerialBits is the size of a serial number. RFC 5280 §4.1.2.2 allows up to
// 20 octets; CA/B requires 64 bits of entropy; we use 128 with the top bit
// set, so every serial has the same width (32 hex digits, 17 DER octets) and
// 127 random bits: collisions are negligible across any fleet's lifetime.
const SerialBits = 128

// ClockSkew backdates every NotBefore, so a peer whose clock runs a little
// behind ours still accepts a certificate issued a moment ago.
const ClockSkew = time.Minute

// Join tokens.
const (
	// DefaultJoinTokenTTL: long enough to type a token into a truck's setup
	// tool, short enough that a token on a sticky note is soon useless.
	DefaultJoinTokenTTL = 10 * time.Minute
	// MaxJoinTokenTTL bounds tokens prepared for a depot's day of
	// commissioning; anything longer is a standing credential.
	MaxJoinTokenTTL = 24 * time.Hour
	// JoinTokenBytes is 256 bits of entropy: unguessable online and offline.
	JoinTokenBytes = 32
)

// Parser input bounds.
const (
	// MaxCSRBytes: a P-256 or Ed25519 CSR with one URI SAN is under 500 bytes
	// DER (about 700 PEM); 4 KiB leaves room for PEM and future attributes
	// and refuses anything that could only be an attack on the parser.
	MaxCSRBytes = 4 << 10
	// MaxOCSPRequestBytes: a one-certificate request with a nonce is about
	// 120 bytes; requests for several certificates are not served.
	MaxOCSPRequestBytes = 4 << 10
	// MaxGatewaySANs bounds DNS plus IP SANs in a gateway certificate.
	MaxGatewaySANs = 32
)

// CRL and OCSP freshness (docs/ARCHITECTURE.md, Defaults).
const (
	// CRLValidity is a CRL's nextUpdate − thisUpdate.
	CRLValidity = 5 * time.Minute
	// CRLRegenerateAfter: a served CRL is rebuilt when the revocation set
	// changed or it is older than this, so relying parties always fetch one
	// with most of its validity left while a CRL number is spent at most
	// about once a minute per replica, whatever the request rate.
	CRLRegenerateAfter = time.Minute
	// OCSPValidity is an OCSP response's nextUpdate − thisUpdate.
	OCSPValidity = 5 * time.Minute
)

// Revocation feed.
const (
	// DefaultRevocationPoll is how often the RevocationSet polls
	// RevocationVersion. With a 200 ms poll, a revocation made on another
	// replica reaches this one's live connections well inside the 1 s
	// promise (invariant 6, docs/ARCHITECTURE.md); a poll is one indexed read.
	DefaultRevocationPoll = 200 * time.Millisecond
	// DefaultRevocationMaxAge is how old the revocation data may get before
	// lookups fail closed. 10 s rides out a store hiccup (50 missed polls)
	// while keeping the window in which a revocation made during an outage
	// could be missed short.
	DefaultRevocationMaxAge = 10 * time.Second
	// MaxRevocationMaxAge bounds the configuration: beyond a CRL's validity
	// our own listeners would be laxer than any relying party.
	MaxRevocationMaxAge = CRLValidity
)

// EmitTimeout bounds the event write made from inside a TLS handshake
// callback, which has no context of its own.
const EmitTimeout = 2 * time.Second

// Argon2id parameters for PassphraseKEK: RFC 9106 §4, second recommended
// option (t=3, 64 MiB), with p=4 lanes. Decryption reads the parameters from
// the file and refuses values beyond the Max bounds, so a tampered file cannot
// make Load allocate gigabytes.
const (
	Argon2Time       = 3
	Argon2MemoryKiB  = 64 << 10
	Argon2Threads    = 4
	MaxArgon2Time    = 16
	MaxArgon2Memory  = 1 << 20 // KiB: 1 GiB
	MaxArgon2Threads = 16
)
