-- Web sign-in sessions. The cookie carries a random token; only its SHA-256
-- is stored, so a copy of the database does not hold usable sessions.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX tickets_queue_id ON tickets(queue_id, id);
