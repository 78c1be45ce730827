-- 0007: a heartbeat no longer appends a frames row. Per vehicle the store
-- keeps the latest signed heartbeat (vehicle_heartbeats) and, on the
-- counter, hb_mask: bit d set means seq high_seq - d (d < 64, the widest
-- out-of-order window) of the counter's epoch was taken by a heartbeat, so
-- a late frame admitted by the window cannot reuse it. Heartbeat rows that
-- older versions wrote into frames stay there and stay readable.
ALTER TABLE vehicle_counters ADD COLUMN hb_mask INTEGER NOT NULL DEFAULT 0;

CREATE TABLE vehicle_heartbeats (
    vehicle_id  TEXT    PRIMARY KEY,
    epoch       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    ts_us       INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    alg         TEXT    NOT NULL,
    kid         TEXT    NOT NULL,
    hash        BLOB    NOT NULL,
    raw         BLOB    NOT NULL,
    sig         BLOB    NOT NULL,
    verdict     TEXT    NOT NULL,
    findings    TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Indexes no read uses: every append paid for them. Frames are read by
-- vehicle and time (frames_time) or by key; events by seq and by code
-- (events_code).
DROP INDEX frames_received;
DROP INDEX events_subject;
