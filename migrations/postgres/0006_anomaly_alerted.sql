-- Veritrail schema, version 6 (PostgreSQL): which anomalies have been evaluated against the
-- anomaly rules. Paired with migrations/sqlite/0006_anomaly_alerted.sql (which explains the why).
ALTER TABLE anomalies ADD COLUMN alerted_at TIMESTAMPTZ;

UPDATE anomalies SET alerted_at = created_at;

CREATE INDEX anomalies_to_alert ON anomalies (tenant, created_at, id) WHERE alerted_at IS NULL;
