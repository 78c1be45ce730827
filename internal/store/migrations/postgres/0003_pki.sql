-- 0003: issued certificates, revocation state, join tokens.
CREATE TABLE certs (
    serial        TEXT        PRIMARY KEY,
    kind          TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    profile       TEXT        NOT NULL,
    not_before    TIMESTAMPTZ NOT NULL,
    not_after     TIMESTAMPTZ NOT NULL,
    issuer_key_id TEXT        NOT NULL,
    der           BYTEA       NOT NULL,
    revoked       TIMESTAMPTZ,
    reason        INT         NOT NULL DEFAULT 0
);
CREATE INDEX certs_principal ON certs(kind, id, not_before);
CREATE INDEX certs_revoked ON certs(revoked) WHERE revoked IS NOT NULL;

CREATE TABLE pki_state (
    one                INT    PRIMARY KEY CHECK (one = 1),
    revocation_version BIGINT NOT NULL,
    crl_number         BIGINT NOT NULL
);
INSERT INTO pki_state(one, revocation_version, crl_number) VALUES (1, 0, 0);

CREATE TABLE join_tokens (
    hash       BYTEA       PRIMARY KEY,
    vehicle_id TEXT        NOT NULL,
    created    TIMESTAMPTZ NOT NULL,
    expires    TIMESTAMPTZ NOT NULL,
    used       TIMESTAMPTZ
);
