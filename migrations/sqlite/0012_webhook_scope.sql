-- A webhook subscribed with a token narrowed to some of the application's
-- queues hears of those queues only: comma list of queue ids, '' for all.
ALTER TABLE webhooks ADD COLUMN queues TEXT NOT NULL DEFAULT '';
