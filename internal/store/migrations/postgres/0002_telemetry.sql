-- 0002: frame-signing keys, per-vehicle counters, the telemetry archive.
CREATE TABLE vehicle_keys (
    vehicle_id TEXT        NOT NULL,
    kid        TEXT        NOT NULL,
    alg        TEXT        NOT NULL,
    material   BYTEA       NOT NULL,
    status     TEXT        NOT NULL,
    created    TIMESTAMPTZ NOT NULL,
    retired    TIMESTAMPTZ,
    PRIMARY KEY (vehicle_id, kid)
);

CREATE TABLE vehicle_counters (
    vehicle_id TEXT        PRIMARY KEY,
    epoch      BIGINT      NOT NULL,
    high_seq   BIGINT      NOT NULL,
    updated    TIMESTAMPTZ NOT NULL
);

CREATE TABLE frames (
    vehicle_id  TEXT        NOT NULL,
    epoch       BIGINT      NOT NULL,
    seq         BIGINT      NOT NULL,
    kind        TEXT        NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    received    TIMESTAMPTZ NOT NULL,
    alg         TEXT        NOT NULL,
    kid         TEXT        NOT NULL,
    hash        BYTEA       NOT NULL,
    raw         BYTEA       NOT NULL,
    sig         BYTEA       NOT NULL,
    verdict     TEXT        NOT NULL,
    findings    TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (vehicle_id, epoch, seq)
);
CREATE INDEX frames_time ON frames(vehicle_id, ts);
CREATE INDEX frames_received ON frames(received);
