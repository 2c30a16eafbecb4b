-- Each change of a person's powers: their account's role (requestor, staff,
-- admin) or a queue role (triager, engineer; NULL when they left the
-- queue), who or what made it (source: directory, ...), and why.
CREATE TABLE role_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    queue_id BIGINT REFERENCES queues(id),
    old_role TEXT,
    new_role TEXT,
    source TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX role_changes_user ON role_changes(user_id, id);
