-- 0016: every approval, renewals included (issue 21). approvals keeps one
-- row per (command, approver), the one that counts; a renewal of an
-- expired approval overwrites it. Each approval is an audit log item, so
-- the row it was taken from must stay: approval_history keeps every
-- approval as it was recorded, never updated, in the transaction that
-- records it. Rows of approvals that exist before this migration are
-- copied in (an approval already overwritten is gone).
CREATE TABLE IF NOT EXISTS approval_history (
    command_id TEXT    NOT NULL REFERENCES commands(id),
    approver   TEXT    NOT NULL,
    at_us      INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (command_id, approver, at_us)
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO approval_history(command_id, approver, at_us, expires_us)
    SELECT command_id, approver, at_us, expires_us FROM approvals;
