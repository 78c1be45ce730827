// Package authz decides who may call the TMS API and what they may do:
// the OAuth 2.0 token endpoint with certificate-bound access tokens
// (RFC 8705), the token-signing keys and their JWKS, token verification,
// and the per-request guard (roles, carrier scope, rate limits, risk).
//
// # Security model
//
// What a token proves. An access token is a JWT (RFC 9068, typ "at+jwt")
// the gateway signs for a TMS client or an operator who authenticated to
// the token endpoint with its mTLS certificate and nothing else
// (tls_client_auth, RFC 8705 §2.1: no client secrets exist, and a request
// that offers one is refused). It proves that, at issuance, that principal
// was active and held roles granting the token's scopes. It carries iss,
// sub (the principal's URI), aud, iat, nbf, exp, jti, scope, roles,
// carrier and client_id, and lives ControlTokenLifetime if it carries a
// control scope, ReadTokenLifetime otherwise.
//
// Binding. Every token carries cnf {"x5t#S256": ...}, the unpadded
// base64url SHA-256 of the DER of the certificate it was issued to
// (RFC 8705 §3.1). Verify compares it, in constant time, with the
// certificate of the connection the token arrives on, and requires sub to
// equal the principal that certificate names (identity comes only from the
// verified chain, VerifiedChains[0][0], mapped by package pki). A token
// without cnf is refused: the gateway honours no unbound token. A stolen
// token is useless without the private key of its certificate.
//
// Pinned algorithms. Tokens are signed with EdDSA (Ed25519) by default or
// ES256, and only those verify: the header is inspected before go-jose sees
// the token so that "none", HS256 (a public key used as an HMAC secret) and
// every other alg are refused with a precise code, and go-jose is called
// with the same pinned list. The kid names the key; a key's alg is fixed
// with the key and must match the header's.
//
// Keys. The token-signing keys live in the store, shared by every replica;
// private keys are sealed (PKCS#8, AEAD under the gateway's secrets key,
// itself under the CA key-encryption key) with the key id in the
// additional data, so a sealed key moved to another row does not open.
// Rotation makes a new key active at once; a retired key stays published
// in the JWKS for KeyPublishMargin, until its last token has expired. Each
// replica reloads the table every DefaultKeyRefreshInterval and when a
// token names a kid it has not loaded (at most once per
// KeyMissRefreshInterval).
//
// Per-request cost. A token that verified is remembered (by the SHA-256
// of its bytes, bounded by MaxVerifiedTokens) so that a client reusing it
// pays for its header, signature and claims once; every request still
// re-checks what can change: that its key is still published and the key
// table fresh, its times, and its binding to the connection's certificate.
// Only tokens that verified are remembered.
//
// Fail closed. A token that is too large, malformed, signed by an unknown
// or unpublished key, outside its times (Leeway is 30 s), longer-lived
// than the gateway issues, missing a required claim, unbound or bound to
// another certificate is refused with a stable access_token_* code (an
// *Error). No usable key (none in the store, a sealed key that does not
// open, a key table older than MaxKeySetStaleness) refuses issuance and
// verification with token_key_unavailable. Sizes are checked before any
// parsing: a token over MaxTokenBytes, or that is not exactly three
// dot-separated parts, costs one pass over its bytes.
//
// Secrets. Tokens and private keys never reach events, logs or errors:
// the access_token_issued event names the jti, scopes and expiry; refusals
// carry a code and a detail that never quotes the token.
//
// The guard.
//
// Every route of the TMS API passes one guard (Guard.Wrap), which decides
// in this order, and stops at the first refusal with one security event:
//
//  1. The verified client certificate (VerifiedChains[0][0], through the
//     Peer dependency) of a TMS client or an operator. No certificate: 403
//     client_certificate_required, the event aggregated per source (the
//     peer proved nothing); another kind: 403 forbidden.
//  2. The bearer token, from exactly one `Authorization: Bearer` header
//     (RFC 6750 §2.1). None: 401 access_token_missing. A token in the query
//     or a form body, two headers, an oversized header (MaxAuthorizationBytes)
//     or a token outside the b64token syntax are refused unparsed.
//  3. TokenVerifier.Verify: signature, algorithm, issuer, audience, times
//     and the RFC 8705 binding to this connection's certificate; and the
//     token's sub must name the certificate's principal. Every failure gets
//     the same answer: 401 access_token_invalid with
//     `WWW-Authenticate: Bearer error="invalid_token"`, the same body,
//     nothing that says which check failed. The event, attributed to the
//     certificate's principal (it is verified; only bounded attributes of
//     the request are copied), records the precise access_token_* code.
//  4. The live account (Directory, normally a CachedDirectory that drops
//     its cache the moment the store's authority version moves): unknown,
//     suspended, or the certificate revoked (CertRevoked) → 401
//     access_token_principal_inactive. A directory that cannot answer (the
//     store down, the version older than its max age) → 503
//     store_unavailable: fail closed, and not a 401, because the client's
//     credentials are not in question. From here on, the request's risk
//     score (below) is on every event; the refusals of steps 1-4 with a
//     verified principal carry the partial score of Risk.Peek (failures
//     and new source, nothing recorded), marked risk_partial.
//  5. The source address (the TCP peer, never a header) against the
//     account's allow-list → 403 access_source_not_allowed.
//  6. The client's token bucket (package ratelimit, keyed by principal) →
//     429 access_rate_limited with Retry-After; never a silent drop.
//  7. The route's scope (Policy) among the token's scopes → 403
//     access_scope_required, `WWW-Authenticate: Bearer
//     error="insufficient_scope"`.
//  8. A role held now that grants that scope (RoleScopes over the live
//     account's roles, not the token's) → 403 access_role_required. A role
//     removed mid-token stops working within one directory poll.
//  9. For carrier-scoped routes, the {id} vehicle's carrier
//     (VehicleCarrier) against the caller's live carrier (Caller.MaySee):
//     an unknown vehicle and another carrier's get the same 404 not_found,
//     byte for byte, so ids do not leak; the event of the second says
//     access_other_carrier. An operator (carrier "") sees every carrier; a
//     client without a carrier sees none.
//  10. The risk score, above its threshold on a control-scope route → 403
//     access_risk_too_high. Read routes only record it.
//
// A request that passes reaches its handler with a Caller in its context
// (CallerFrom): the principal, its live carrier and roles, the token's
// scopes and jti, and the risk score. List handlers filter with
// Caller.MaySee; the command handlers read Caller.Risk.
//
// A route without a Policy entry is never served: GuardRoutes refuses to
// start with one, and Guard.Wrap of an unknown pattern refuses every
// request. Only the routes on the Anonymous list (the token endpoint,
// authenticated by its certificate alone, and the two public /.well-known
// documents) pass unguarded.
//
// The risk score (Risk) adds, capped at 100: 15 per refused request of the
// principal in the last 15 minutes (at most 45), 25 for a source the
// principal has not used in that window while it used others, 20 for a
// request rate more than 4 times its usual (and at least 60 a minute), 20
// outside its configured hours. Above 50 (configurable) control routes are
// refused. The state is per replica and in memory, bounded, kept only for
// verified principals; it adds suspicion and never replaces a check.
//
// # Compatibility
//
// Tokens, the JWKS and the metadata document are read by TMS clients and
// third-party verifiers: claims may be added, existing ones keep their
// meaning. Reason codes are stable (package codes).
package authz
