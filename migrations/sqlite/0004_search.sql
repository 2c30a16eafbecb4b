-- Full-text search (SQLite FTS5) over ticket subjects and history text.
-- detail=none keeps the indexes small and inserts cheap; queries are single
-- words (see fts5_query). History text is indexed off the mail path:
-- transactions are append-only, and `search_state.upto` says how far the
-- index has caught up (store::search_index), so ingest never pays for it.
CREATE VIRTUAL TABLE transactions_fts USING fts5(body, content='transactions', content_rowid='id', detail='none', columnsize=0);
CREATE TABLE search_state (name TEXT PRIMARY KEY, upto BIGINT NOT NULL);
INSERT INTO search_state (name, upto) VALUES ('transactions', 0);

-- Subjects are set when a ticket is created and never changed, so they are
-- caught up the same way.
CREATE VIRTUAL TABLE tickets_fts USING fts5(subject, content='tickets', content_rowid='id', detail='none', columnsize=0);
INSERT INTO search_state (name, upto) VALUES ('tickets', 0);

CREATE INDEX ticket_requestors_user ON ticket_requestors(user_id);
