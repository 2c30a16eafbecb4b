-- Full-text search (PostgreSQL) over ticket subjects and history text,
-- 'simple' configuration: no language guessing for mixed-language mail.
CREATE INDEX transactions_body_fts ON transactions USING GIN (to_tsvector('simple', body));
CREATE INDEX tickets_subject_fts ON tickets USING GIN (to_tsvector('simple', subject));

CREATE INDEX ticket_requestors_user ON ticket_requestors(user_id);

-- Kept for symmetry with SQLite, where history text is indexed in catch-up runs.
CREATE TABLE search_state (name TEXT PRIMARY KEY, upto BIGINT NOT NULL);
INSERT INTO search_state (name, upto) VALUES ('transactions', 0);
INSERT INTO search_state (name, upto) VALUES ('tickets', 0);
