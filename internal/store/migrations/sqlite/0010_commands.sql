-- 0010: commands (issue 20). Tenders as received and answered; commands with
-- their state, the gateway-owned per-vehicle counter (cmd_seq) and every
-- transition with time and actor; approvals; Idempotency-Key records of the
-- TMS API; the webhook outbox.
--
-- tenders: a load tender as the client sent it (body, JSON), keyed by the
-- client and the client's tender id, with the gateway's accept or decline
-- (answer) and its reasons (a JSON array).
--
-- commands: one row per command. state is the state machine's (package
-- command); the conditional update "SET state = to WHERE id = ? AND state =
-- from" is how a race (a cancel against a delivery, two replicas delivering)
-- is decided once. cmd_seq, nonce and issued_us are set when the command is
-- queued, in the transaction that takes the next value of the vehicle's
-- counter (vehicle_command_counters), and never change after; the unique
-- index on (vehicle_id, cmd_seq) is the last line against a counter reused.
-- delivered_by names the replica that delivered; verdict and answer_reason
-- the vehicle's signed answer. tender_id links a dispatch to its tender.
--
-- command_transitions: every transition, the first (from '') included, in
-- the transaction of the change. approvals: one per (command, approver),
-- the unique key refusing a second from the same principal.
--
-- idempotency_keys: the first request under a client's key (its SHA-256)
-- and the response it got, replayed to a retry with the same body.
--
-- webhook_outbox: events for a client's webhook, delivered at least once
-- by a later step, with retries (attempts, next_attempt_us) and a dead
-- letter flag.
--
-- Written so that it can run again on a store that already has it (tests
-- roll a store back to an older version by deleting schema_migrations rows).
CREATE TABLE IF NOT EXISTS tenders (
    client     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    carrier    TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    answer     TEXT    NOT NULL,
    reasons    TEXT    NOT NULL DEFAULT '[]',
    created_us INTEGER NOT NULL,
    PRIMARY KEY (client, id)
) STRICT;

CREATE TABLE IF NOT EXISTS commands (
    id                 TEXT    PRIMARY KEY,
    vehicle_id         TEXT    NOT NULL,
    carrier            TEXT    NOT NULL,
    requested_by       TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    tender_id          TEXT    NOT NULL DEFAULT '',
    payload            BLOB    NOT NULL,
    risk_class         TEXT    NOT NULL,
    approvals_required INTEGER NOT NULL CHECK (approvals_required >= 0),
    state              TEXT    NOT NULL,
    cmd_seq            INTEGER,
    nonce              BLOB,
    issued_us          INTEGER,
    expires_us         INTEGER NOT NULL,
    created_us         INTEGER NOT NULL,
    updated_us         INTEGER NOT NULL,
    delivered_by       TEXT    NOT NULL DEFAULT '',
    verdict            TEXT    NOT NULL DEFAULT '',
    answer_reason      TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS commands_vehicle_seq ON commands(vehicle_id, cmd_seq) WHERE cmd_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS commands_vehicle ON commands(vehicle_id, id);
CREATE INDEX IF NOT EXISTS commands_state ON commands(state, id);
CREATE INDEX IF NOT EXISTS commands_carrier ON commands(carrier, id);
CREATE INDEX IF NOT EXISTS commands_expiry ON commands(expires_us) WHERE state IN ('pending_approval','approved','queued');

CREATE TABLE IF NOT EXISTS command_transitions (
    command_id TEXT    NOT NULL REFERENCES commands(id),
    n          INTEGER NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    at_us      INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (command_id, n)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS approvals (
    command_id TEXT    NOT NULL REFERENCES commands(id),
    approver   TEXT    NOT NULL,
    at_us      INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (command_id, approver)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS vehicle_command_counters (
    vehicle_id TEXT    PRIMARY KEY,
    last_seq   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS idempotency_keys (
    client      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    request_sha BLOB    NOT NULL,
    status      INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    created_us  INTEGER NOT NULL,
    PRIMARY KEY (client, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys(created_us);

CREATE TABLE IF NOT EXISTS webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us INTEGER NOT NULL,
    created_us      INTEGER NOT NULL,
    delivered_us    INTEGER,
    dead            INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(next_attempt_us, id) WHERE delivered_us IS NULL AND dead = 0;
