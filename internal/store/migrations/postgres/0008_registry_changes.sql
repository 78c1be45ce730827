-- 0008: the registry change feed (issue 17). Every write that changes what
-- ingest's key cache holds (a vehicle created or its status changed, a
-- frame-signing key added, retired or sealed) takes the next version from
-- registry_feed (its row lock serializes these writes, so versions are
-- contiguous and in commit order, which a sequence would not be) and
-- appends a registry_changes row in its own transaction. Gateways poll the
-- rows after the version they have applied and drop exactly the vehicles
-- listed, instead of re-reading every vehicle's key each second. Rows older
-- than store.RegistryChangeRetention are pruned by later registry writes,
-- the newest excepted.
--
-- Written so that it can run again on a store that already has it (tests
-- roll a store back to an older version by deleting schema_migrations rows).
CREATE TABLE IF NOT EXISTS registry_feed (
    one     INT    PRIMARY KEY CHECK (one = 1),
    version BIGINT NOT NULL
);
INSERT INTO registry_feed(one, version) VALUES (1, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS registry_changes (
    version    BIGINT      PRIMARY KEY,
    vehicle_id TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_changes_at ON registry_changes(at);
