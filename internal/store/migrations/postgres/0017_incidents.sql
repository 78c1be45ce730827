-- 0017: incidents (issue 22). Findings of package detect grouped by subject
-- and time into incidents (package incident), with their lifecycle
-- (open, acknowledged, contained, resolved), notes, notification clocks
-- (internal, customer, regulator_early_warning, regulator), the
-- notifications sent, the containment actions taken, and the command holds
-- containment places on vehicles. A finding id is stored once across all
-- incidents (its primary key): a re-delivered finding changes nothing.
--
-- Written so that it can run again on a store that already has it.
CREATE TABLE IF NOT EXISTS incidents (
    id              TEXT    PRIMARY KEY,
    subject_kind    TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    severity        BIGINT NOT NULL,
    safety          BOOLEAN NOT NULL,
    state           TEXT    NOT NULL,
    opened       TIMESTAMPTZ NOT NULL,
    updated      TIMESTAMPTZ NOT NULL,
    last_finding TIMESTAMPTZ NOT NULL,
    rule_ids        TEXT[]  NOT NULL -- sorted, distinct
);
CREATE INDEX IF NOT EXISTS incidents_subject ON incidents(subject_kind, subject, state);
CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state, id);

CREATE TABLE IF NOT EXISTS incident_findings (
    id          TEXT    PRIMARY KEY,
    incident_id TEXT    NOT NULL REFERENCES incidents(id),
    n           BIGINT NOT NULL,
    rule_id     TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    severity    BIGINT NOT NULL,
    safety      BOOLEAN NOT NULL,
    first    TIMESTAMPTZ NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    count       BIGINT NOT NULL,
    event_ids   TEXT[]  NOT NULL,
    runbook     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_findings_incident ON incident_findings(incident_id, n);

CREATE TABLE IF NOT EXISTS incident_transitions (
    incident_id TEXT    NOT NULL REFERENCES incidents(id),
    n           BIGINT NOT NULL,
    from_state  TEXT    NOT NULL,
    to_state    TEXT    NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    PRIMARY KEY (incident_id, n)
);

CREATE TABLE IF NOT EXISTS incident_notes (
    incident_id TEXT    NOT NULL REFERENCES incidents(id),
    n           BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    text        TEXT    NOT NULL,
    PRIMARY KEY (incident_id, n)
);

CREATE TABLE IF NOT EXISTS incident_clocks (
    incident_id  TEXT    NOT NULL REFERENCES incidents(id),
    kind         TEXT    NOT NULL,
    due       TIMESTAMPTZ NOT NULL,
    done      TIMESTAMPTZ,
    escalated TIMESTAMPTZ,
    PRIMARY KEY (incident_id, kind)
);
CREATE INDEX IF NOT EXISTS incident_clocks_due ON incident_clocks(due) WHERE done IS NULL AND escalated IS NULL;

CREATE TABLE IF NOT EXISTS incident_notifications (
    incident_id TEXT    NOT NULL REFERENCES incidents(id),
    n           BIGINT NOT NULL,
    clock       TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    actor       TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    PRIMARY KEY (incident_id, n)
);

CREATE TABLE IF NOT EXISTS incident_containment (
    incident_id TEXT    NOT NULL REFERENCES incidents(id),
    n           BIGINT NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    result      TEXT    NOT NULL,
    PRIMARY KEY (incident_id, n)
);

CREATE TABLE IF NOT EXISTS vehicle_holds (
    vehicle     TEXT    PRIMARY KEY REFERENCES vehicles(id),
    incident_id TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    reason      TEXT    NOT NULL
);
