-- Issue 13: people and identity. The team is told of every new ticket
-- (per queue, on by default), unless a person turned it off for themselves.
ALTER TABLE queues ADD COLUMN notify_team_on_new SMALLINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_new SMALLINT NOT NULL DEFAULT 1;

-- LDAP: the directory entry a staff account comes from (NULL: a local
-- account, signed in with its own password).
ALTER TABLE users ADD COLUMN directory_dn TEXT;

-- Requestors who sign in may file new tickets on the web in these queues.
ALTER TABLE queues ADD COLUMN requestors_may_file SMALLINT NOT NULL DEFAULT 0;
