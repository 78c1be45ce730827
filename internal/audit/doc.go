// Package audit is fifthwheel's tamper-evident log: an RFC 6962 Merkle
// tree over the gateway's stored frames, events, commands and approvals, with signed
// C2SP checkpoints and inclusion and consistency proofs that verify offline
// against the log's public key alone (issue 21; docs/AUDIT.md).
//
// # Design
//
// One design on both store engines: transparency-dev/merkle (the rfc6962
// hasher, compact ranges to append, the proof package for inclusion and
// consistency) with the store holding the items, the leaves and every
// complete node hash, in the same database as the rows they cover. Tessera's
// POSIX driver was the alternative for SQLite only; it was not taken
// because it would make two logs to keep, test and operate (files beside
// the database for SQLite, tables for PostgreSQL), because its files are
// not in the database transaction that stores the frame (a crash between
// the two leaves a frame the log never covers, or the reverse), and because
// the tree math it would save is the library's anyway. docs/AUDIT.md has
// the measurements.
//
// An Item is (kind, reference, SHA-256 of its exact stored bytes). Items
// are appended as pending, cheaply, next to the rows they cover. A
// Sequencer step takes the pending items in the order the store reads them
// (oldest id first) and makes them one leaf: the leaf's bytes are a domain
// prefix, the item count and each item's Digest, in order (LeafData); the
// item's position in its batch is part of its proof (ItemProof: a C2SP
// tlog-proof whose extra data carries the position and the leaf's bytes).
// The step assigns the next leaf index (the latest checkpoint's size, never
// an id: a PostgreSQL BIGSERIAL is not commit order), stores the leaf, the
// nodes it completes and the items' leaf and position, and signs the new
// checkpoint, all in one transaction: a crash leaves all of it or none.
//
// # Security model
//
// The database is not trusted: anyone with access can edit, delete, insert
// or reorder rows. What is trusted is the log key's signature on a
// checkpoint (origin, size, root), and a checkpoint an auditor saved
// outside the gateway. Verify proves the current checkpoint extends the
// saved one and recomputes every leaf and the roots from the stored items,
// reporting every tampered row with its index (Finding); with a Source it
// also re-hashes the rows the items refer to, naming an edited item by its
// position. What the log cannot do: stop an attacker with the database and
// the sealed key's secrets key from rewriting history that no outside party
// has a checkpoint of. That is why checkpoints are published: to a file
// and, by a Publisher, to the webhooks of the TMS clients that audit the
// gateway (publish.go). A checkpoint may carry witnesses' cosignatures
// (other keys' signature lines); OpenCheckpoint ignores them and requires
// the log's own signature, once.
//
// The log key is an Ed25519 signed-note key (golang.org/x/mod/sumdb/note),
// generated once, sealed under the gateway's secrets key (bound to its
// purpose and origin) and kept in the store like the token-signing keys,
// so every replica that becomes the sequencer signs with the same key.
// Only one replica sequences at a time: the store's lease (a transaction
// advisory lock on PostgreSQL, the one writer on SQLite); the next step of
// any replica continues from the latest checkpoint, so a dead sequencer
// leaves no gap and no fork. A sequencer whose stored tree does not match
// the latest checkpoint refuses to sequence (fail closed).
//
// # Compatibility
//
// The leaf bytes, the item digest and the item-proof extra data are
// versioned by their domain prefixes ("fifthwheel/audit/.../v1"). They
// never change in place: a new encoding gets a new prefix, and verifiers
// keep accepting v1 for the leaves already in the log. A new item Kind is
// not a format change (the kind's name is in the digest). Checkpoints and
// proofs are C2SP tlog-checkpoint and tlog-proof, as transparency-dev/formats
// writes them.
package audit
