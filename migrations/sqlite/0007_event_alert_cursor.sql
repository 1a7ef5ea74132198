-- Veritrail schema, version 7 (SQLite): how far each tenant's events have been evaluated against
-- its event rules. Paired with migrations/postgres/0007_event_alert_cursor.sql.
--
-- The `event-alerts` job evaluates the events from `next_seq` on in batches and moves the cursor
-- in the same transaction that records the alerts (and deliveries) those events raised, so an
-- acknowledged event is evaluated exactly once, even across a crash. Tenants without a row start
-- at seq 0; the events stored before this version were evaluated as they were appended, so each
-- existing tenant starts at its chain head.
CREATE TABLE event_alert_progress (
    tenant   TEXT    PRIMARY KEY,
    next_seq INTEGER NOT NULL CHECK (next_seq >= 0)  -- seq of the first event not evaluated yet
) STRICT;

INSERT INTO event_alert_progress (tenant, next_seq) SELECT tenant, next_seq FROM chain_heads;
