-- 0004: revoking a principal is a fact about the principal (issue 15).
--
-- principals holds one row per principal that was ever issued a certificate
-- or revoked: how many certificates it was issued (each certificate carries
-- its number in certs.seq) and, once revoked, the number through which
-- every certificate is revoked. Issuance and principal revocation both lock
-- this row first (inserting it if missing, then SELECT ... FOR UPDATE), in
-- the transaction that writes the certificate or the revocation, so they are
-- serialized per principal across replicas: a certificate is either
-- recorded before the revocation (and revoked by it) or checked against it.
-- Certificates recorded before this migration keep seq 0, which is at or
-- below any revocation's watermark.
ALTER TABLE certs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE principals (
    kind            TEXT        NOT NULL,
    id              TEXT        NOT NULL,
    issued          BIGINT      NOT NULL DEFAULT 0,
    revoked_through BIGINT,                -- NULL: never revoked
    revoked         TIMESTAMPTZ,
    reason          INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, id)
);

-- A vehicle's revocation spends its unused join tokens.
CREATE INDEX join_tokens_unused ON join_tokens(vehicle_id) WHERE used IS NULL;
