-- OAuth2 (XOAUTH2) for an IMAP mailbox: the token endpoint and client, and
-- where the client secret and refresh token are read from (environment
-- variable or file; never the secrets themselves).
ALTER TABLE mailboxes ADD COLUMN oauth2_token_url TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_client_id TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_client_secret_env TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_client_secret_file TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_refresh_token_env TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_refresh_token_file TEXT;
ALTER TABLE mailboxes ADD COLUMN oauth2_scope TEXT;
-- The SASL mechanism: xoauth2 (Microsoft 365, Gmail) or oauthbearer (RFC 7628).
ALTER TABLE mailboxes ADD COLUMN oauth2_mechanism TEXT NOT NULL DEFAULT 'xoauth2';
