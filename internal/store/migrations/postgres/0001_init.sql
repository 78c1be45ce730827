-- 0001: foundation tables.
CREATE TABLE events (
    seq        BIGSERIAL   PRIMARY KEY,
    id         TEXT        NOT NULL UNIQUE,
    time       TIMESTAMPTZ NOT NULL,
    class      TEXT        NOT NULL,
    verdict    TEXT        NOT NULL,
    code       TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    body       BYTEA       NOT NULL
);
CREATE INDEX events_code ON events(code, seq);
CREATE INDEX events_subject ON events(subject, seq);

CREATE TABLE vehicles (
    id         TEXT        PRIMARY KEY,
    status     TEXT        NOT NULL,
    created    TIMESTAMPTZ NOT NULL,
    labels     JSONB       NOT NULL DEFAULT '{}'
);

CREATE TABLE clients (
    id         TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    status     TEXT        NOT NULL,
    created    TIMESTAMPTZ NOT NULL
);

CREATE TABLE settings (
    key        TEXT        PRIMARY KEY,
    value      BYTEA       NOT NULL,
    updated    TIMESTAMPTZ NOT NULL
);
