-- Full-text search (SQLite FTS5) over ticket subjects and history text.
-- detail=none keeps the indexes small and inserts cheap; queries are single
-- words (see fts5_query). History text is indexed off the mail path:
-- transactions are append-only, and `search_state.upto` says how far the
-- index has caught up (store::search_index), so ingest never pays for it.
CREATE VIRTUAL TABLE transactions_fts USING fts5(body, content='transactions', content_rowid='id', detail='none', columnsize=0);
CREATE TABLE search_state (name TEXT PRIMARY KEY, upto BIGINT NOT NULL);
INSERT INTO search_state (name, upto) VALUES ('transactions', 0);

CREATE VIRTUAL TABLE tickets_fts USING fts5(subject, content='tickets', content_rowid='id', detail='none', columnsize=0);
CREATE TRIGGER tickets_fts_ai AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_fts(rowid, subject) VALUES (new.id, new.subject);
END;
CREATE TRIGGER tickets_fts_au AFTER UPDATE OF subject ON tickets BEGIN
    INSERT INTO tickets_fts(tickets_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
    INSERT INTO tickets_fts(rowid, subject) VALUES (new.id, new.subject);
END;
INSERT INTO tickets_fts(rowid, subject) SELECT id, subject FROM tickets;

CREATE INDEX ticket_requestors_user ON ticket_requestors(user_id);

-- Covers the queue overview's counts (status, owner, age) without touching rows.
CREATE INDEX tickets_overview ON tickets(queue_id, status, owner_id, created_at);
