-- 0015: retention of raw telemetry (issue 21).
--
-- A purge (PurgeFramePayloads) empties a frames row's raw and sig and sets
-- purged_us; it keeps the row's key, hash, kind, times, alg, kid, verdict
-- and findings, so de-duplication (hash compare) and the audit log's item
-- (SHA-256 of raw, kept as hash) still work.
-- frame_purge_marks: per vehicle, every frames row with ts_us below
-- purged_before_us has been purged; the next purge scans frames_time from
-- there instead of over every row purged before (they stay forever).
--
-- add-column: frames purged_us INTEGER
CREATE TABLE IF NOT EXISTS frame_purge_marks (
    vehicle_id       TEXT    PRIMARY KEY,
    purged_before_us INTEGER NOT NULL
) STRICT;
