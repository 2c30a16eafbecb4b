-- Reports at a million tickets read indexes, not the table (issue 11).

-- Open tickets by queue, owner, status and their times: the aging report
-- counts from this alone.
CREATE INDEX tickets_open_aging ON tickets(queue_id, owner_id, status, created_at, updated_at, status_changed_at)
    WHERE status NOT IN ('resolved', 'rejected') AND merged_into IS NULL;

-- Tickets by creation with what the flow report reads of them.
CREATE INDEX tickets_flow ON tickets(created_at, queue_id, first_response_at, resolved_at, status, merged_into);

-- Closed tickets by when they closed.
CREATE INDEX tickets_closed ON tickets(resolved_at, queue_id, merged_into) WHERE resolved_at IS NOT NULL;

-- Open tickets under a policy, soonest due first, with their SLA state.
CREATE INDEX tickets_sla_open ON tickets(sla_due, queue_id, owner_id, sla_risk_at, sla_breached)
    WHERE status NOT IN ('resolved', 'rejected') AND merged_into IS NULL AND sla_policy_id IS NOT NULL;
