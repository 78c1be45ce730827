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
-- is decided once. cmd_seq, nonce and issued_at are set when the command is
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
-- by a later step, with retries (attempts, next_attempt_at) and a dead
-- letter flag.
--
-- On PostgreSQL the transaction that queues a command also notifies
-- fifthwheel_commands with the vehicle id, so the replica that holds the
-- vehicle's session delivers at once.
--
-- Written so that it can run again on a store that already has it (tests
-- roll a store back to an older version by deleting schema_migrations rows).
CREATE TABLE IF NOT EXISTS tenders (
    client  TEXT        NOT NULL,
    id      TEXT        NOT NULL,
    carrier TEXT        NOT NULL,
    purpose TEXT        NOT NULL,
    body    BYTEA       NOT NULL,
    answer  TEXT        NOT NULL,
    reasons JSONB       NOT NULL DEFAULT '[]',
    created TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client, id)
);

CREATE TABLE IF NOT EXISTS commands (
    id                 TEXT        PRIMARY KEY,
    vehicle_id         TEXT        NOT NULL,
    carrier            TEXT        NOT NULL,
    requested_by       TEXT        NOT NULL,
    type               TEXT        NOT NULL,
    tender_id          TEXT        NOT NULL DEFAULT '',
    payload            BYTEA       NOT NULL,
    risk_class         TEXT        NOT NULL,
    approvals_required INT         NOT NULL CHECK (approvals_required >= 0),
    state              TEXT        NOT NULL,
    cmd_seq            BIGINT,
    nonce              BYTEA,
    issued_at          TIMESTAMPTZ,
    expires_at         TIMESTAMPTZ NOT NULL,
    created            TIMESTAMPTZ NOT NULL,
    updated            TIMESTAMPTZ NOT NULL,
    delivered_by       TEXT        NOT NULL DEFAULT '',
    verdict            TEXT        NOT NULL DEFAULT '',
    answer_reason      TEXT        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS commands_vehicle_seq ON commands(vehicle_id, cmd_seq) WHERE cmd_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS commands_vehicle ON commands(vehicle_id, id);
CREATE INDEX IF NOT EXISTS commands_state ON commands(state, id);
CREATE INDEX IF NOT EXISTS commands_carrier ON commands(carrier, id);
CREATE INDEX IF NOT EXISTS commands_expiry ON commands(expires_at) WHERE state IN ('pending_approval','approved','queued');

CREATE TABLE IF NOT EXISTS command_transitions (
    command_id TEXT        NOT NULL REFERENCES commands(id),
    n          INT         NOT NULL,
    from_state TEXT        NOT NULL,
    to_state   TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,
    reason     TEXT        NOT NULL,
    PRIMARY KEY (command_id, n)
);

CREATE TABLE IF NOT EXISTS approvals (
    command_id TEXT        NOT NULL REFERENCES commands(id),
    approver   TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (command_id, approver)
);

CREATE TABLE IF NOT EXISTS vehicle_command_counters (
    vehicle_id TEXT   PRIMARY KEY,
    last_seq   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    client      TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    request_sha BYTEA       NOT NULL,
    status      INT         NOT NULL,
    body        BYTEA       NOT NULL,
    created     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys(created);

CREATE TABLE IF NOT EXISTS webhook_outbox (
    id              BIGSERIAL   PRIMARY KEY,
    client          TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    body            BYTEA       NOT NULL,
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created         TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    dead            BOOLEAN     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(next_attempt_at, id) WHERE delivered_at IS NULL AND NOT dead;
