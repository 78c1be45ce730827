-- 0009: TMS access (issue 19). Carriers, roles and the front door's
-- per-client settings on the registry; operators as principals with roles;
-- the token-signing keys every replica shares; the authority version.
--
-- clients.carrier names the carrier whose vehicles the client sees ('': none,
-- as for a client registered before this version). clients.roles and
-- operators.roles are JSON arrays of role names, as are
-- clients.allowed_sources (CIDR prefixes, normalized; []: any source): each
-- set is small, always read whole with its principal when a gateway fills
-- its authorization cache, and written whole by `roles set` / `access set`,
-- so a column the row carries beats a child table that every read would join
-- and every write would have to rewrite row by row. No query selects by role.
-- clients.hours is the client's usual hours, "HH:MM-HH:MM" UTC ('': any).
--
-- vehicles.carrier is the vehicle's carrier ('': none yet, which no client
-- sees); join_tokens.carrier is the carrier an enrollment with the token
-- registers the vehicle under.
--
-- token_keys holds the access-token signing keys: public is the PKIX DER
-- public key, sealed the private key sealed by the caller under the CA key
-- encryption key (the store never sees it in the clear, and refuses an
-- empty one). retired_us NULL is the active key; at most one is active (the
-- partial unique index), which is what lets two replicas race to create the
-- first key with exactly one winning. A retired key stays published until
-- publish_until_us, then is pruned.
--
-- authority_state.version moves, in the same transaction, with every change
-- of a client's or operator's existence, status, roles, carrier, sources or
-- hours; gateways poll it (PostgreSQL also notifies fifthwheel_authority)
-- and drop their authorization caches when it moves.
--
-- Written so that it can run again on a store that already has it (tests
-- roll a store back to an older version by deleting schema_migrations
-- rows). SQLite has no ADD COLUMN IF NOT EXISTS: the add-column lines below
-- are applied by the migration runner (migrate.go) for each column the
-- table lacks, before the statements.
--
-- add-column: clients carrier TEXT NOT NULL DEFAULT ''
-- add-column: clients roles TEXT NOT NULL DEFAULT '[]'
-- add-column: clients allowed_sources TEXT NOT NULL DEFAULT '[]'
-- add-column: clients hours TEXT NOT NULL DEFAULT ''
-- add-column: vehicles carrier TEXT NOT NULL DEFAULT ''
-- add-column: join_tokens carrier TEXT NOT NULL DEFAULT ''
CREATE INDEX IF NOT EXISTS vehicles_carrier ON vehicles(carrier, id);

CREATE TABLE IF NOT EXISTS operators (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    roles      TEXT    NOT NULL DEFAULT '[]',
    created_us INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS token_keys (
    kid              TEXT    PRIMARY KEY,
    alg              TEXT    NOT NULL,
    public           BLOB    NOT NULL,
    sealed           BLOB    NOT NULL CHECK (length(sealed) > 0),
    created_us       INTEGER NOT NULL,
    retired_us       INTEGER,
    publish_until_us INTEGER
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS token_keys_one_active ON token_keys((retired_us IS NULL)) WHERE retired_us IS NULL;

CREATE TABLE IF NOT EXISTS authority_state (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO authority_state(one, version) VALUES (1, 0);
