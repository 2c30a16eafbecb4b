-- Full-text search (PostgreSQL) over ticket subjects and history text,
-- 'simple' configuration: no language guessing for mixed-language mail.
CREATE INDEX transactions_body_fts ON transactions USING GIN (to_tsvector('simple', body));
CREATE INDEX tickets_subject_fts ON tickets USING GIN (to_tsvector('simple', subject));

CREATE INDEX ticket_requestors_user ON ticket_requestors(user_id);
