-- 0014: the event stream (issue 22; stream.go). events.seq is a BIGSERIAL,
-- taken at insert, not at commit: a reader ordering by seq skips a row
-- whose transaction commits after a higher seq was read. stream_seq is
-- given after commit, by one sequencer at a time (an advisory lock), in
-- increasing order: a row gets its position only once it is committed and
-- visible, so no reader ever sees a position filled in behind it. NULL
-- until sequenced; rows that exist before this migration are sequenced
-- first, in seq order.
ALTER TABLE events ADD COLUMN IF NOT EXISTS stream_seq BIGINT;
CREATE UNIQUE INDEX IF NOT EXISTS events_stream ON events(stream_seq);
CREATE INDEX IF NOT EXISTS events_unsequenced ON events(seq) WHERE stream_seq IS NULL;

-- stream_consumers: one row per consumer of the stream (the detection
-- engine, each SIEM sink): its cursor, and the lease that lets one holder
-- at a time serve it.
CREATE TABLE IF NOT EXISTS stream_consumers (
    name        TEXT        PRIMARY KEY,
    pos         BIGINT      NOT NULL DEFAULT 0,
    holder      TEXT        NOT NULL DEFAULT '',
    lease_until TIMESTAMPTZ,
    updated     TIMESTAMPTZ NOT NULL
);
