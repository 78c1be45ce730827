// Package pki is fifthwheel's fleet certificate authority: issuance,
// enrollment with join tokens, renewal, revocation, CRL and OCSP, the
// in-memory revocation feed the TLS listeners consult, and the mapping from a
// verified certificate chain to a principal.
//
// # Security model
//
// Trust is two-tiered. The root key signs intermediates and nothing else; it
// is written by Init to its own file (RootKeyFile) so the operator can move it
// off the gateway, and it is needed again only to add an intermediate. The
// online intermediates sign leaf certificates, CRLs and the in-memory OCSP
// responder certificates. Every CA private key is encrypted at rest by a
// KeyEncrypter (AES-256-GCM under a key derived from a passphrase with
// Argon2id, or, in development, under a random 256-bit key kept in a 0600
// file); the additional data binds each ciphertext to its role and key id so
// key files cannot be swapped.
//
// Listeners trust the intermediates, not the root: the client CA pool holds
// only the intermediates currently marked trusted, so a certificate signed
// directly by the root, by a retired intermediate or by any other CA fails
// crypto/tls chain verification. Identity is taken from VerifiedChains[0][0]
// and nowhere else: it must carry exactly one URI SAN of the form
// urn:fifthwheel:<kind>:<id>, a CN equal to the id, and the extended key usage
// of its kind's profile. Any extra certificate a peer appends is only ever a
// candidate intermediate for crypto/tls; it never names anyone. There is one
// client-certificate policy: VerifyCredential applies the listeners' checks,
// with the same reason codes, to credentials presented outside a handshake
// (the CLI's operator credential, against LoadTrust of the CA directory), so
// a certificate a listener refuses cannot act through the CLI either.
//
// Revocation is enforced in three places: the handshake (VerifyConnection
// consults the RevocationSet for the leaf and its intermediate), live
// connections (ConnTracker closes them when the RevocationSet learns of a
// revocation, within one poll interval), and for third parties through the
// CRL and OCSP. The RevocationSet fails closed: when its data is older than
// its MaxAge, every lookup returns ErrRevocationStale and handshakes are
// refused. Open connections are not closed for staleness alone: a short store
// outage must not send the whole fleet into safe state.
//
// Revoking a principal (RevokePrincipal: a vehicle, TMS client or operator
// as a whole) is a fact about the principal, not a snapshot of its serials.
// The Registry numbers each principal's certificates and records, in the
// transaction that revokes every certificate issued so far, that number as
// the principal's revocation watermark. Every issuance of a principal's
// certificate runs in a transaction that takes the same per-principal lock
// (a row lock on PostgreSQL, across replicas; the single writer on SQLite)
// and checks its basis there: a renewal's presented certificate must be
// unrevoked and above the watermark, an enrollment's join token is consumed
// there (and a vehicle's revocation spends its unused tokens). So a
// certificate is either recorded before the revocation, which revokes it, or
// refused after it: none issued before or during the revocation survives it,
// whatever renewals race it. The order is the Registry's own count, never
// NotBefore (second-granular and back-dated). A certificate issued afterwards
// on a new basis (an operator's issue, a join token created afterwards)
// re-provisions the principal. Renewal is also rate-limited per principal at
// the HTTP front (package enroll).
//
// Suspension is not revocation (it is reversible, and recorded in the
// vehicle registry, not on the certificate), but it cuts a vehicle off the
// same way: SuspensionWatch follows the registry's status version (polled,
// and woken by LISTEN/NOTIFY on PostgreSQL) and has ConnTracker close every
// live connection of a suspended or retired vehicle, on every replica,
// within one poll interval.
//
// The gateway's own TLS server certificate (ServerCert) comes from the same
// CA, with the names of pki.server_names, and is kept in a credential
// directory (DATA/gateway: cert.pem, key.pem 0600, ca.pem). The gateway
// presents it only while it is good: chained to an intermediate trusted
// now, not revoked, with exactly the configured names and before 2/3 of its
// life (RenewDue); otherwise it issues a new one, at start and at every
// check of a running gateway. A certificate planted in that directory
// without the CA's signature is never presented.
//
// The secrets key (SecretsKeyFile, under the KEK like the CA keys) seals the
// secrets kept outside the CA directory: HS256 frame secrets in the store.
// The KEK opens it once per process; it opens each secret only in memory.
//
// Enrollment authorizes exactly one identity: a join token is 256 random bits,
// shown once, stored only as its SHA-256, valid for a bounded TTL, and
// consumed atomically on use; the CSR must name the token's vehicle and
// nobody else, with an ECDSA P-256 or Ed25519 key. Renewal keeps the identity
// of the presented, verified, unrevoked and unexpired certificate. Input that
// is refused changes nothing: a CSR that fails any check does not consume the
// token, and a renewal or enrollment refused when its certificate is recorded
// leaves no certificate behind.
//
// Every issuance, renewal, revocation and handshake decision emits exactly
// one event (class pki or authentication) with a stable Code; the codes are
// package codes' (areas tls, enrollment and pki). Join-token secrets and private keys never reach events,
// errors or logs. A refusal about a peer that has not proven who it is (every
// handshake refusal: in TLS 1.3 VerifyConnection runs before the client
// proves its key; an enrollment refused before a live join token is found)
// carries the peer's Source, and what it copies from the peer's input is
// bounded, so the gateway's event.Aggregator records a flood of them per
// source and window instead of one by one (invariant 7, docs/ARCHITECTURE.md).
//
// # Persistence
//
// The package is storage-agnostic. It declares what it needs as the Registry
// interface (registry.go); internal/store implements it on SQLite and
// PostgreSQL, MemRegistry in memory, and package pkitest holds the
// conformance suite every implementation must pass.
//
// # Compatibility
//
// Reason codes, the CA directory layout (ca.json version 1), the encrypted key
// format (fwkey1) and the certificate profiles are stable: a change that a
// deployed gateway, vehicle or SIEM rule could notice gets a new name rather
// than a new meaning.
package pki
