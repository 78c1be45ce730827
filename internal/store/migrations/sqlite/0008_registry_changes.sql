-- 0008: the registry change feed (issue 17). Every write that changes what
-- ingest's key cache holds (a vehicle created or its status changed, a
-- frame-signing key added, retired or sealed) takes the next version from
-- registry_feed and appends a registry_changes row in its own transaction,
-- so versions are contiguous and in commit order. Gateways poll the rows
-- after the version they have applied and drop exactly the vehicles listed,
-- instead of re-reading every vehicle's key each second. Rows older than
-- store.RegistryChangeRetention are pruned by later registry writes, the
-- newest excepted.
--
-- Written so that it can run again on a store that already has it (tests
-- roll a store back to an older version by deleting schema_migrations rows).
CREATE TABLE IF NOT EXISTS registry_feed (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO registry_feed(one, version) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS registry_changes (
    version    INTEGER PRIMARY KEY,
    vehicle_id TEXT    NOT NULL,
    at_us      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS registry_changes_at ON registry_changes(at_us);
