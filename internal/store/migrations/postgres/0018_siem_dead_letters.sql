-- 0018 (issue 22): the
-- SIEM sinks' dead letters (siem.go). A batch a sink gave up is kept here;
-- one row per (sink, stream range), so a re-delivered batch is not
-- recorded twice.
CREATE TABLE IF NOT EXISTS siem_dead_letters (
    id          BIGSERIAL   PRIMARY KEY,
    sink        TEXT        NOT NULL,
    from_pos    BIGINT      NOT NULL,
    to_pos      BIGINT      NOT NULL,
    first_event TEXT        NOT NULL,
    last_event  TEXT        NOT NULL,
    count       INTEGER     NOT NULL,
    attempts    INTEGER     NOT NULL,
    last_error  TEXT        NOT NULL,
    body        BYTEA       NOT NULL,
    created     TIMESTAMPTZ NOT NULL,
    UNIQUE (sink, from_pos, to_pos)
);
