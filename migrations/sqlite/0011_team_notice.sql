-- Issue 13: the team is told of every new ticket (per queue, on by
-- default), unless a person turned it off for themselves.
ALTER TABLE queues ADD COLUMN notify_team_on_new SMALLINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_new SMALLINT NOT NULL DEFAULT 1;
