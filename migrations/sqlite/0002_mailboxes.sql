-- IMAP mailboxes polled into queues, with their sync state and health.
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    tls TEXT NOT NULL,
    username TEXT NOT NULL,
    -- exactly one password source: inline, an environment variable, a file
    password TEXT,
    password_env TEXT,
    password_file TEXT,
    folder TEXT NOT NULL DEFAULT 'INBOX',
    queue_id BIGINT NOT NULL REFERENCES queues(id),
    after_action TEXT NOT NULL DEFAULT 'seen',
    move_folder TEXT,
    uidvalidity BIGINT,
    last_uid BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'new',
    last_success_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    failures BIGINT NOT NULL DEFAULT 0,
    backlog BIGINT NOT NULL DEFAULT 0,
    -- one poller at a time: a lease another instance takes over when it lapses
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL
);
