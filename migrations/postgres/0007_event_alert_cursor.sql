-- Veritrail schema, version 7 (PostgreSQL): how far each tenant's events have been evaluated
-- against its event rules. Paired with migrations/sqlite/0007_event_alert_cursor.sql (which
-- explains the why).
CREATE TABLE event_alert_progress (
    tenant   TEXT   PRIMARY KEY,
    next_seq BIGINT NOT NULL CHECK (next_seq >= 0)  -- seq of the first event not evaluated yet
);

INSERT INTO event_alert_progress (tenant, next_seq) SELECT tenant, next_seq FROM chain_heads;
