-- 0019 (issue 22, provisional number): retention of resolved incidents.
--
-- resolved is when an incident was resolved (the time of its transition to
-- resolved; resolved is final), NULL while it is not. A purge
-- (PurgeResolvedIncidents) deletes resolved incidents whose resolved is
-- older than incidents.retention, with every child row, oldest first
-- through incidents_resolved. Incidents resolved before this migration
-- take the time of their transition to resolved; one without such a
-- transition keeps NULL and is never purged (kept rather than guessed).
--
-- Written so that it can run again on a store that already has it.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolved TIMESTAMPTZ;
UPDATE incidents i SET resolved = (SELECT max(t.at) FROM incident_transitions t
        WHERE t.incident_id = i.id AND t.to_state = 'resolved')
    WHERE i.state = 'resolved' AND i.resolved IS NULL;
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved, id) WHERE resolved IS NOT NULL;
