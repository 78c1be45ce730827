-- 0016: every approval, renewals included (issue 21). approvals keeps one
-- row per (command, approver), the one that counts; a renewal of an
-- expired approval overwrites it. Each approval is an audit log item, so
-- the row it was taken from must stay: approval_history keeps every
-- approval as it was recorded, never updated, in the transaction that
-- records it. Rows of approvals that exist before this migration are
-- copied in (an approval already overwritten is gone).
CREATE TABLE IF NOT EXISTS approval_history (
    command_id TEXT        NOT NULL REFERENCES commands(id),
    approver   TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (command_id, approver, at)
);
INSERT INTO approval_history(command_id, approver, at, expires_at)
    SELECT command_id, approver, at, expires_at FROM approvals
    ON CONFLICT DO NOTHING;
