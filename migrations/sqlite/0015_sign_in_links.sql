-- One-time sign-in links mailed to requestors who ask for one: the SHA-256
-- of the token (never the token), the address it was mailed to (an account
-- is made only when the link is used), until when, and when it was used
-- (once).
CREATE TABLE sign_in_links (
    hash TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX sign_in_links_email ON sign_in_links(email, created_at);
CREATE INDEX sign_in_links_created ON sign_in_links(created_at);
