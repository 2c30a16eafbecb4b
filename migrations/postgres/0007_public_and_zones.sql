-- Issue 10, second part.

-- A public queue ("external, customer-facing, complete visibility") shows
-- all its tickets read-only to anyone with a status-page link or an account.
ALTER TABLE queues ADD COLUMN public SMALLINT NOT NULL DEFAULT 0;

-- The time zone a person reads times in (IANA name); NULL: the instance's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
