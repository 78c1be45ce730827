-- 0013: the audit log core (issue 21, package internal/audit).
--
-- audit_items: one row per audited item (a frame, an event, ...): its kind,
-- a stable reference and the SHA-256 of its exact stored bytes. leaf/pos
-- are NULL while the item is pending; the sequencer sets both, in the same
-- transaction that stores the leaf. id is the append order, never a leaf
-- index.
-- audit_leaves: one row per leaf (a sequencer batch): how many items it
-- covers. Its hash is the level-0 row of audit_nodes.
-- audit_nodes: every complete node of the RFC 6962 tree (level 0 = leaf
-- hashes), written when the leaf that completes it is sequenced; proofs
-- are read from here.
-- audit_checkpoints: every signed checkpoint (C2SP tlog-checkpoint as a
-- signed note), by tree size.
-- audit_log_key: the log's Ed25519 note key, the private half sealed by
-- the caller under the secrets key (one row).
--
-- Written so that it can run again on a store that already has it.
CREATE TABLE IF NOT EXISTS audit_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    leaf       INTEGER,
    pos        INTEGER,
    created_us INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_items_pending ON audit_items(id) WHERE leaf IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS audit_items_leaf_pos ON audit_items(leaf, pos) WHERE leaf IS NOT NULL;
-- Finding an item's leaf and position by what it is (proofs, forensics).
CREATE INDEX IF NOT EXISTS audit_items_ref ON audit_items(kind, ref);

CREATE TABLE IF NOT EXISTS audit_leaves (
    idx          INTEGER PRIMARY KEY,
    items        INTEGER NOT NULL,
    sequenced_us INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS audit_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB    NOT NULL,
    note       BLOB    NOT NULL,
    created_us INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS audit_log_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    origin     TEXT    NOT NULL,
    verifier   TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_us INTEGER NOT NULL
) STRICT;
