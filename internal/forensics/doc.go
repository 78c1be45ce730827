// Package forensics builds and checks forensic bundles (issue 21,
// docs/FORENSICS.md): a tar.gz of one vehicle's evidence over a time window
// (its raw signed frames exactly as received, its latest signed heartbeat,
// its certificates and frame keys, its commands created in the window as
// their log items (creation, transitions, approvals, issue, delivery,
// answer), its security events), an
// inclusion proof into the audit log for every logged item against one
// signed checkpoint, a manifest signed by the gateway's audit log key, and
// an append-only chain-of-custody log.
//
// # Security model
//
// Verify trusts only the log's verifier key (and custodians' keys when
// given); it needs no gateway, network or store. The manifest is a signed
// statement (audit.SignStatement, header ManifestHeader): it cannot parse
// as a checkpoint, nor a checkpoint as a manifest. It names every file with
// its SHA-256 and size, so any changed, missing or extra file is found;
// every logged item's bytes are re-hashed and proven to be in the log under
// the bundled checkpoint with the upstream RFC 6962 verifier
// (audit.VerifyItemProof); every frame's vehicle signature is checked with
// the bundled key; the vehicle's certificates are chained to the bundled
// fleet root. What the bundle cannot prove: that the gateway exported every
// row (a gateway holding the log key could leave rows out; the manifest
// lists what was not covered, and an auditor's saved checkpoint bounds what
// the log held), nor that the bundled fleet root is the real one (it is
// what the gateway attests; compare it with the one the fleet trusts).
//
// Parsing is strict and bounded (limits.go): a bundle whose tar headers are
// not exactly what Export writes, with an unsafe or duplicate path, or over
// a size bound, is refused before anything else is read.
//
// # Custody
//
// Each custody entry names the manifest's hash and the previous entry's
// hash (the manifest's for the first), so entries cannot be reordered,
// dropped from the middle or moved to another bundle. An entry signed with a
// custodian's Ed25519 note key is checked when that key is given to Verify;
// an unsigned entry is only chained, so the last unsigned entry can be
// edited without a trace: sign entries.
//
// # Compatibility
//
// The manifest and custody entries are versioned by their header lines
// (ManifestHeader, CustodyHeader); a new layout gets a new header.
package forensics
