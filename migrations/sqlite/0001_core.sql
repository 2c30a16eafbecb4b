-- Core schema. Timestamps are BIGINT milliseconds since the Unix epoch (UTC),
-- flags are SMALLINT 0/1: the only types sqlx's Any driver reads on both backends.
CREATE TABLE queues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    correspond_address TEXT NOT NULL UNIQUE,
    comment_address TEXT UNIQUE,
    subject_tag TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT 'requestor',
    password_hash TEXT,
    bouncing SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Staff who work a queue (see its tickets, are told of replies and comments).
CREATE TABLE queue_members (
    queue_id BIGINT NOT NULL REFERENCES queues(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (queue_id, user_id)
);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id BIGINT NOT NULL REFERENCES queues(id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    owner_id BIGINT REFERENCES users(id),
    priority BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    due_at BIGINT
);
CREATE INDEX tickets_queue_status ON tickets(queue_id, status, id);

CREATE TABLE ticket_requestors (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE ticket_cc (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (ticket_id, user_id)
);

-- Raw mail, byte for byte. (message_id, fingerprint) is the dedupe key: a
-- redelivery is the same pair; a different mail reusing a Message-ID (broken
-- mailers do) has another fingerprint and is kept. message_id is derived from
-- the bytes when the mail has none.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    raw BLOB NOT NULL,
    source TEXT NOT NULL,
    ticket_id BIGINT REFERENCES tickets(id),
    received_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_dedupe ON messages(message_id, fingerprint);
CREATE INDEX messages_ticket ON messages(ticket_id);

-- Append-only history of a ticket.
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    type TEXT NOT NULL,
    creator_id BIGINT REFERENCES users(id),
    message_row_id BIGINT REFERENCES messages(id),
    body TEXT NOT NULL DEFAULT '',
    thread_rule TEXT,
    thread_note TEXT,
    classification TEXT,
    auto_submitted SMALLINT NOT NULL DEFAULT 0,
    old_value TEXT,
    new_value TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX transactions_ticket ON transactions(ticket_id, id);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id BIGINT NOT NULL REFERENCES transactions(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX attachments_transaction ON attachments(transaction_id);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    raw BLOB NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'held',
    ticket_id BIGINT,
    created_at BIGINT NOT NULL
);

-- Transactional outbox: written with the change that causes the mail.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    kind TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    from_name TEXT NOT NULL DEFAULT '',
    reply_to TEXT,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    html_body TEXT,
    -- automatic mail (acknowledgements, notices) carries Auto-Submitted
    auto_submitted SMALLINT NOT NULL DEFAULT 1,
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    references_ids TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_ack_rate ON outbox(kind, to_addrs, created_at);
