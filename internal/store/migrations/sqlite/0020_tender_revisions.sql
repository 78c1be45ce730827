-- 0020 (provisional number): a stored tender can be changed (a new
-- revision, before any command of it exists) or cancelled (issue 20).
--
-- tenders gains revision (1 for the original, +1 per change), updated_us
-- (when the current revision was stored; 0 on rows older than this
-- migration, read as created_us), cancelled_us (NULL: not cancelled) and
-- cancelled_by (the principal URI of the canceller).
--
-- tender_revisions keeps every superseded revision of a tender as it was
-- (body, answer, reasons, and when it was stored), written in the
-- transaction that replaces it: the history of a changed tender.
--
-- Written so that it can run again on a store that already has it.
-- add-column: tenders revision INTEGER NOT NULL DEFAULT 1
-- add-column: tenders updated_us INTEGER NOT NULL DEFAULT 0
-- add-column: tenders cancelled_us INTEGER
-- add-column: tenders cancelled_by TEXT NOT NULL DEFAULT ''
CREATE TABLE IF NOT EXISTS tender_revisions (
    client     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    purpose    TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    answer     TEXT    NOT NULL,
    reasons    TEXT    NOT NULL DEFAULT '[]',
    stored_us  INTEGER NOT NULL,
    PRIMARY KEY (client, id, revision)
) STRICT, WITHOUT ROWID;

-- What a tender's cancel and change look up: the commands dispatched from it.
CREATE INDEX IF NOT EXISTS commands_tender ON commands(tender_id, requested_by) WHERE tender_id != '';
