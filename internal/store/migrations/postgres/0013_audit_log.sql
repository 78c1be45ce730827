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
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    hash       BYTEA   NOT NULL,
    leaf       BIGINT,
    pos        BIGINT,
    created    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_items_pending ON audit_items(id) WHERE leaf IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS audit_items_leaf_pos ON audit_items(leaf, pos) WHERE leaf IS NOT NULL;
-- Finding an item's leaf and position by what it is (proofs, forensics).
CREATE INDEX IF NOT EXISTS audit_items_ref ON audit_items(kind, ref);

CREATE TABLE IF NOT EXISTS audit_leaves (
    idx       BIGINT  PRIMARY KEY,
    items     BIGINT  NOT NULL,
    sequenced TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_nodes (
    level BIGINT  NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size       BIGINT  PRIMARY KEY,
    root       BYTEA   NOT NULL,
    note       BYTEA   NOT NULL,
    created    TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log_key (
    id         BIGINT  PRIMARY KEY CHECK (id = 1),
    origin     TEXT    NOT NULL,
    verifier   TEXT    NOT NULL,
    sealed     BYTEA   NOT NULL,
    created    TIMESTAMPTZ NOT NULL
);
