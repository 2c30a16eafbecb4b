-- One-time sign-in links mailed to requestors who ask for one: the SHA-256
-- of the token (never the token), whose it is, until when, and when it was
-- used (once).
CREATE TABLE sign_in_links (
    hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX sign_in_links_user ON sign_in_links(user_id, created_at);
