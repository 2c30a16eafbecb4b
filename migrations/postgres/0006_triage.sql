-- The triage flow (issue 10).

-- Roles per queue: a triager assigns, and may override a WIP limit; an
-- engineer takes. Memberships from before roles keep the powers they had.
ALTER TABLE queue_members ADD COLUMN role TEXT NOT NULL DEFAULT 'triager';

-- Work-in-progress limits: a queue's default and a person's own (NULL: none).
ALTER TABLE queues ADD COLUMN wip_limit BIGINT;
ALTER TABLE users ADD COLUMN wip_limit BIGINT;

-- The latest ETA and its reason, why the ticket is in its status, when a
-- postponed ticket wakes, its parent, and the ticket it was merged into.
ALTER TABLE tickets ADD COLUMN eta_at BIGINT;
ALTER TABLE tickets ADD COLUMN eta_reason TEXT;
ALTER TABLE tickets ADD COLUMN status_reason TEXT;
ALTER TABLE tickets ADD COLUMN postponed_until BIGINT;
ALTER TABLE tickets ADD COLUMN parent_id BIGINT REFERENCES tickets(id);
ALTER TABLE tickets ADD COLUMN merged_into BIGINT REFERENCES tickets(id);
CREATE INDEX tickets_owner_status ON tickets(owner_id, status);
CREATE INDEX tickets_waking ON tickets(postponed_until) WHERE postponed_until IS NOT NULL;
CREATE INDEX tickets_parent ON tickets(parent_id) WHERE parent_id IS NOT NULL;
-- The triage board's sections: unowned by age, and by last update.
CREATE INDEX tickets_unowned ON tickets(status, created_at) WHERE owner_id IS NULL;
CREATE INDEX tickets_status_updated ON tickets(status, updated_at);

-- depends-on and refers-to.
CREATE TABLE ticket_links (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    kind TEXT NOT NULL,
    target_id BIGINT NOT NULL REFERENCES tickets(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, kind, target_id)
);

-- Intake: the fields a queue requires (a comma list of keys, empty: none),
-- the fields each ticket was given, and what it still lacks.
ALTER TABLE queues ADD COLUMN intake TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN intake_missing TEXT NOT NULL DEFAULT '';
CREATE INDEX tickets_incomplete ON tickets(status, created_at) WHERE intake_missing <> '';
CREATE TABLE ticket_fields (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, name)
);

-- Which changes mail the requestor, per queue; quieter than every status
-- change. Events: taken, eta, needs-info, postponed, stalled, resolved,
-- rejected, status (any other change).
ALTER TABLE queues ADD COLUMN notify TEXT NOT NULL DEFAULT 'resolved,rejected,needs-info,eta';
-- A requestor's reply reopens a resolved ticket within this many days;
-- later it opens a new ticket that refers to the old one.
ALTER TABLE queues ADD COLUMN reopen_days BIGINT NOT NULL DEFAULT 14;
