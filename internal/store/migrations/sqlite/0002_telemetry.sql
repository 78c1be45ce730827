-- 0002: frame-signing keys, per-vehicle counters, the telemetry archive.
CREATE TABLE vehicle_keys (
    vehicle_id TEXT    NOT NULL,
    kid        TEXT    NOT NULL,
    alg        TEXT    NOT NULL,
    material   BLOB    NOT NULL,
    status     TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    retired_us INTEGER,
    PRIMARY KEY (vehicle_id, kid)
) STRICT;

CREATE TABLE vehicle_counters (
    vehicle_id TEXT    PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    high_seq   INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
) STRICT;

CREATE TABLE frames (
    vehicle_id  TEXT    NOT NULL,
    epoch       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    ts_us       INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    alg         TEXT    NOT NULL,
    kid         TEXT    NOT NULL,
    hash        BLOB    NOT NULL,
    raw         BLOB    NOT NULL,
    sig         BLOB    NOT NULL,
    verdict     TEXT    NOT NULL,
    findings    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (vehicle_id, epoch, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX frames_time ON frames(vehicle_id, ts_us);
CREATE INDEX frames_received ON frames(received_us);
