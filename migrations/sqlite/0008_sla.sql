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
