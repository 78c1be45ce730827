-- 0001: foundation tables. Times are Unix microseconds (UTC).
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    time_us    INTEGER NOT NULL,
    class      TEXT    NOT NULL,
    verdict    TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       BLOB    NOT NULL
) STRICT;
CREATE INDEX events_code ON events(code, seq);
CREATE INDEX events_subject ON events(subject, seq);

CREATE TABLE vehicles (
    id         TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    labels     TEXT    NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE clients (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    created_us INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_us INTEGER NOT NULL
) STRICT;
