-- Veritrail schema, version 5 (PostgreSQL): the history of alert delivery attempts. Paired with
-- migrations/sqlite/0005_alert_attempts.sql (which explains the why).
CREATE TABLE alert_delivery_attempts (
    id          TEXT        PRIMARY KEY,
    tenant      TEXT        NOT NULL,
    delivery_id TEXT        NOT NULL REFERENCES alert_deliveries (id),
    attempt     BIGINT      NOT NULL CHECK (attempt >= 0),
    holder      TEXT        NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT        NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error       TEXT
);

CREATE INDEX alert_delivery_attempts_by_delivery ON alert_delivery_attempts (tenant, delivery_id, finished_at, id);
