-- Full-text search (SQLite FTS5) over ticket subjects and history text.
-- External-content indexes kept current by triggers; transactions are
-- append-only, so they need an insert trigger only.
CREATE VIRTUAL TABLE transactions_fts USING fts5(body, content='transactions', content_rowid='id');
CREATE TRIGGER transactions_fts_ai AFTER INSERT ON transactions BEGIN
    INSERT INTO transactions_fts(rowid, body) VALUES (new.id, new.body);
END;
INSERT INTO transactions_fts(rowid, body) SELECT id, body FROM transactions;

CREATE VIRTUAL TABLE tickets_fts USING fts5(subject, content='tickets', content_rowid='id');
CREATE TRIGGER tickets_fts_ai AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_fts(rowid, subject) VALUES (new.id, new.subject);
END;
CREATE TRIGGER tickets_fts_au AFTER UPDATE OF subject ON tickets BEGIN
    INSERT INTO tickets_fts(tickets_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
    INSERT INTO tickets_fts(rowid, subject) VALUES (new.id, new.subject);
END;
INSERT INTO tickets_fts(rowid, subject) SELECT id, subject FROM tickets;

CREATE INDEX ticket_requestors_user ON ticket_requestors(user_id);
