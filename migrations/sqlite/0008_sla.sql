-- SLAs in business hours (issue 11).

-- Working hours in a time zone: `hours` holds lines such as
-- "mon 09:00-17:00" joined by ';', `holidays` dates (YYYY-MM-DD) by ','.
CREATE TABLE calendars (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    time_zone TEXT NOT NULL,
    hours TEXT NOT NULL,
    holidays TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Targets per queue, optionally for one priority, as written ("4h", "2d").
CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    queue_id BIGINT NOT NULL REFERENCES queues(id),
    priority BIGINT,
    first_response TEXT NOT NULL,
    resolve TEXT NOT NULL,
    next_response TEXT,
    calendar_id BIGINT NOT NULL REFERENCES calendars(id),
    pause TEXT NOT NULL DEFAULT 'needs-info,postponed,stalled',
    at_risk_percent BIGINT NOT NULL DEFAULT 75,
    escalate_priority BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sla_policies_queue ON sla_policies(queue_id);

-- The clocks' state, kept on the ticket so lists and reports read it:
-- deadlines (NULL while paused or where none applies), when the first
-- staff reply went out, when a clock reaches its at-risk share, the
-- breaches recorded (comma list), and the next instant the scheduler must
-- look at the ticket.
ALTER TABLE tickets ADD COLUMN sla_policy_id BIGINT REFERENCES sla_policies(id);
ALTER TABLE tickets ADD COLUMN first_response_at BIGINT;
ALTER TABLE tickets ADD COLUMN first_response_due BIGINT;
ALTER TABLE tickets ADD COLUMN resolve_due BIGINT;
ALTER TABLE tickets ADD COLUMN next_response_due BIGINT;
ALTER TABLE tickets ADD COLUMN sla_paused SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN sla_risk_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_due BIGINT;
ALTER TABLE tickets ADD COLUMN sla_breached TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN sla_check_at BIGINT;
CREATE INDEX tickets_sla_check ON tickets(sla_check_at) WHERE sla_check_at IS NOT NULL;
CREATE INDEX tickets_sla_risk ON tickets(sla_risk_at) WHERE sla_risk_at IS NOT NULL;

-- The built-in calendar: every hour of every day, in UTC.
INSERT INTO calendars (name, time_zone, hours, holidays, created_at)
VALUES ('24x7', 'UTC', 'mon 00:00-24:00;tue 00:00-24:00;wed 00:00-24:00;thu 00:00-24:00;fri 00:00-24:00;sat 00:00-24:00;sun 00:00-24:00', '', 0);

-- Reports count tickets by when they were created and closed.
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX tickets_resolved ON tickets(resolved_at) WHERE resolved_at IS NOT NULL;

-- When the ticket entered its status: the aging report's "time in status".
ALTER TABLE tickets ADD COLUMN status_changed_at BIGINT;
UPDATE tickets SET status_changed_at = COALESCE(
    (SELECT MAX(x.created_at) FROM transactions x
     WHERE x.ticket_id = tickets.id AND x.type IN ('status', 'postpone')),
    created_at);

-- A queue's digest is mail about no one ticket: SQLite cannot drop a NOT
-- NULL, so the outbox is rebuilt with every column and index it had.
CREATE TABLE outbox_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT REFERENCES tickets(id),
    kind TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    from_name TEXT NOT NULL DEFAULT '',
    reply_to TEXT,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    html_body TEXT,
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
    created_at BIGINT NOT NULL,
    done_addrs TEXT NOT NULL DEFAULT '',
    refused TEXT
);
INSERT INTO outbox_rebuilt (id, ticket_id, kind, from_addr, from_name, reply_to, to_addrs, cc_addrs,
    subject, body, html_body, auto_submitted, message_id, in_reply_to, references_ids, status,
    attempts, next_attempt_at, locked_until, last_error, sent_at, created_at, done_addrs, refused)
SELECT id, ticket_id, kind, from_addr, from_name, reply_to, to_addrs, cc_addrs,
    subject, body, html_body, auto_submitted, message_id, in_reply_to, references_ids, status,
    attempts, next_attempt_at, locked_until, last_error, sent_at, created_at, done_addrs, refused
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_ack_rate ON outbox(kind, to_addrs, created_at);

-- Triage digests: when (weekday and time, in the queue's calendar) and the
-- next time one is due; the scheduler claims a digest by moving that on.
ALTER TABLE queues ADD COLUMN digest TEXT;
ALTER TABLE queues ADD COLUMN digest_next BIGINT;
