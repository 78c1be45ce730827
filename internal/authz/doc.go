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
// Per-request guard. Every TMS API request is checked by the guard in
// this package after Verify.
//
// # Compatibility
//
// Tokens, the JWKS and the metadata document are read by TMS clients and
// third-party verifiers: claims may be added, existing ones keep their
// meaning. Reason codes are stable (package codes).
package authz
