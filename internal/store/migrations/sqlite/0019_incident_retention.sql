-- 0019 (issue 22, provisional number): retention of resolved incidents.
--
-- resolved_us is when an incident was resolved (the time of its transition
-- to resolved; resolved is final), NULL while it is not. A purge
-- (PurgeResolvedIncidents) deletes resolved incidents whose resolved_us is
-- older than incidents.retention, with every child row, oldest first
-- through incidents_resolved. Incidents resolved before this migration
-- take the time of their transition to resolved; one without such a
-- transition keeps NULL and is never purged (kept rather than guessed).
--
-- Written so that it can run again on a store that already has it.
-- add-column: incidents resolved_us INTEGER
UPDATE incidents SET resolved_us = (SELECT max(t.at_us) FROM incident_transitions t
        WHERE t.incident_id = incidents.id AND t.to_state = 'resolved')
    WHERE state = 'resolved' AND resolved_us IS NULL;
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved_us, id) WHERE resolved_us IS NOT NULL;
