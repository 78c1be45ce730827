-- 0018 (issue 22): the
-- SIEM sinks' dead letters (siem.go). A batch a sink gave up is kept here;
-- one row per (sink, stream range), so a re-delivered batch is not
-- recorded twice.
CREATE TABLE IF NOT EXISTS siem_dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sink        TEXT    NOT NULL,
    from_pos    INTEGER NOT NULL,
    to_pos      INTEGER NOT NULL,
    first_event TEXT    NOT NULL,
    last_event  TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    created_us  INTEGER NOT NULL,
    UNIQUE (sink, from_pos, to_pos)
) STRICT;
