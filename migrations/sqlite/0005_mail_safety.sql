-- Mail safety (issue 8).
-- An over-size message stays on the IMAP server, or is moved here.
ALTER TABLE mailboxes ADD COLUMN oversize_folder TEXT;

-- UIDs whose body the server did not return: retried on later passes and
-- quarantined after three tries, never marked as done before.
CREATE TABLE imap_missing (
    mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id),
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    tries BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (mailbox_id, uidvalidity, uid)
);

-- Instance-wide values generated on first use (the reply-address secret).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Per recipient: addresses already delivered or refused for good, so a
-- retry sends only to the rest; and who was refused, with the reason.
ALTER TABLE outbox ADD COLUMN done_addrs TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN refused TEXT;

-- Why a transaction needs a look: a comment address used by an outsider,
-- staff-looking mail that was not authenticated.
ALTER TABLE transactions ADD COLUMN flag TEXT;
