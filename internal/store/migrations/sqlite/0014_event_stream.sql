-- 0014: the event stream's consumers (issue 22; stream.go). On SQLite the
-- one writer commits events in seq order, so events.seq is the stream
-- position and events need no new column.
--
-- stream_consumers: one row per consumer of the stream (the detection
-- engine, each SIEM sink): its cursor, and the lease that lets one holder
-- at a time serve it.
CREATE TABLE IF NOT EXISTS stream_consumers (
    name        TEXT    PRIMARY KEY,
    pos         INTEGER NOT NULL DEFAULT 0,
    holder      TEXT    NOT NULL DEFAULT '',
    lease_us    INTEGER NOT NULL DEFAULT 0,
    updated_us  INTEGER NOT NULL
) STRICT;
