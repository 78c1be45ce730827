-- 0020 (provisional number): a stored tender can be changed (a new
-- revision, before any command of it exists) or cancelled (issue 20).
--
-- tenders gains revision (1 for the original, +1 per change), updated
-- (when the current revision was stored; NULL on rows older than this
-- migration, read as created), cancelled (NULL: not cancelled) and
-- cancelled_by (the principal URI of the canceller).
--
-- tender_revisions keeps every superseded revision of a tender as it was
-- (body, answer, reasons, and when it was stored), written in the
-- transaction that replaces it: the history of a changed tender.
--
-- A dispatch reads its tender's row FOR SHARE in the transaction that
-- creates the command, and a change or cancel updates that row first:
-- of a dispatch and a change (or cancel) of the same tender, one waits for
-- the other, so a command is never created from a superseded or cancelled
-- revision, and a change never replaces a tender a command was made from.
--
-- Written so that it can run again on a store that already has it.
ALTER TABLE tenders ADD COLUMN IF NOT EXISTS revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tenders ADD COLUMN IF NOT EXISTS updated TIMESTAMPTZ;
ALTER TABLE tenders ADD COLUMN IF NOT EXISTS cancelled TIMESTAMPTZ;
ALTER TABLE tenders ADD COLUMN IF NOT EXISTS cancelled_by TEXT NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS tender_revisions (
    client   TEXT        NOT NULL,
    id       TEXT        NOT NULL,
    revision BIGINT      NOT NULL,
    purpose  TEXT        NOT NULL,
    body     BYTEA       NOT NULL,
    answer   TEXT        NOT NULL,
    reasons  JSONB       NOT NULL DEFAULT '[]',
    stored   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client, id, revision)
);

-- What a tender's cancel and change look up: the commands dispatched from it.
CREATE INDEX IF NOT EXISTS commands_tender ON commands(tender_id, requested_by) WHERE tender_id <> '';
