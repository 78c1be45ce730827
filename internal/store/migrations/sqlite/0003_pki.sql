-- 0003: issued certificates, revocation state, join tokens.
CREATE TABLE certs (
    serial        TEXT    PRIMARY KEY,
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    profile       TEXT    NOT NULL,
    not_before_us INTEGER NOT NULL,
    not_after_us  INTEGER NOT NULL,
    issuer_key_id TEXT    NOT NULL,
    der           BLOB    NOT NULL,
    revoked_us    INTEGER,
    reason        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX certs_principal ON certs(kind, id, not_before_us);
CREATE INDEX certs_revoked ON certs(revoked_us) WHERE revoked_us IS NOT NULL;

-- One row: the revocation change counter (polled by every replica) and the
-- CRL number (strictly increasing across replicas).
CREATE TABLE pki_state (
    one                INTEGER PRIMARY KEY CHECK (one = 1),
    revocation_version INTEGER NOT NULL,
    crl_number         INTEGER NOT NULL
) STRICT;
INSERT INTO pki_state(one, revocation_version, crl_number) VALUES (1, 0, 0);

CREATE TABLE join_tokens (
    hash       BLOB    PRIMARY KEY,
    vehicle_id TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    used_us    INTEGER
) STRICT;
