-- The JSON API (issue 12): applications and their private queues, tokens,
-- idempotency keys, task types and tasks, webhooks and their deliveries,
-- scheduled updates, calendar feeds.

-- An application acts through its own user row (role 'app'), so the flow's
-- rules and history name it like anyone else.
CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL
);
-- The application owning a queue (its private area); NULL for people's queues.
ALTER TABLE queues ADD COLUMN app_id BIGINT REFERENCES applications(id);

-- Bearer tokens, stored as a SHA-256 of the secret; `queues` narrows them
-- (comma list of ids, empty: every queue the owner may use).
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    app_id BIGINT REFERENCES applications(id),
    user_id BIGINT REFERENCES users(id),
    queues TEXT NOT NULL DEFAULT '',
    read_only SMALLINT NOT NULL DEFAULT 0,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Idempotency-Key: the first answer to a key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    token_id BIGINT NOT NULL REFERENCES api_tokens(id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT,
    content_type TEXT,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- Task types: a field schema (JSON) per application.
CREATE TABLE task_types (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES applications(id),
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, name)
);

-- A task is a ticket with a type, typed values (JSON), the fields open for
-- input (JSON list, empty: all locked), and the request that opened them.
CREATE TABLE tasks (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets(id),
    type_id BIGINT NOT NULL REFERENCES task_types(id),
    hidden SMALLINT NOT NULL DEFAULT 0,
    assignee_id BIGINT REFERENCES users(id),
    fields TEXT NOT NULL DEFAULT '{}',
    input_needed TEXT NOT NULL DEFAULT '[]',
    input_message TEXT,
    input_due BIGINT
);
CREATE INDEX tasks_assignee ON tasks(assignee_id) WHERE hidden = 0;
-- Hidden tasks are kept out of every people's list by this one flag.
ALTER TABLE tickets ADD COLUMN hidden SMALLINT NOT NULL DEFAULT 0;

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES applications(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    disabled_reason TEXT
);

-- Deliveries: written in the change's transaction, sent in order per
-- ticket by whichever instance claims them.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id),
    msg_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    ticket_id BIGINT,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
-- "Is an earlier delivery of this ticket still waiting?", asked per candidate.
CREATE INDEX webhook_deliveries_line ON webhook_deliveries(webhook_id, ticket_id, id)
    WHERE status = 'pending';

-- Field and status updates the scheduler carries out once.
CREATE TABLE scheduled_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    at BIGINT NOT NULL,
    changes TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX scheduled_updates_due ON scheduled_updates(at) WHERE status = 'pending';

-- Secret calendar URLs, per person or per queue.
CREATE TABLE calendar_feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users(id),
    queue_id BIGINT REFERENCES queues(id),
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
