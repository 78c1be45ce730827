-- 0015: retention of raw telemetry (issue 21).
--
-- A purge (PurgeFramePayloads) empties a frames row's raw and sig and sets
-- purged; it keeps the row's key, hash, kind, times, alg, kid, verdict and
-- findings, so de-duplication (hash compare) and the audit log's item
-- (SHA-256 of raw, kept as hash) still work.
-- frame_purge_marks: per vehicle, every frames row with ts below
-- purged_before has been purged; the next purge scans frames_time from
-- there instead of over every row purged before (they stay forever).
ALTER TABLE frames ADD COLUMN IF NOT EXISTS purged TIMESTAMPTZ;
CREATE TABLE IF NOT EXISTS frame_purge_marks (
    vehicle_id    TEXT        PRIMARY KEY,
    purged_before TIMESTAMPTZ NOT NULL
);
