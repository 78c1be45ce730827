-- 0011: clients' webhooks (issue 20, "Push"). One webhook per TMS client:
-- the https URL the gateway POSTs the client's outbox messages to, and the
-- client's HMAC secret (32 to 64 random bytes) sealed by the caller under
-- the secrets key, bound to the client id (the store never sees it in the
-- clear, and refuses an empty one). updated_by is the operator who set it.
-- Clearing a client's webhook deletes its row; messages already in
-- webhook_outbox for it become dead letters when the sender finds no
-- webhook.
--
-- Written so that it can run again on a store that already has it.
CREATE TABLE IF NOT EXISTS client_webhooks (
    client     TEXT    PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     BLOB    NOT NULL,
    updated_us INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
) STRICT;
