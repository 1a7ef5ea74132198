-- Veritrail schema, version 6 (SQLite): which anomalies have been evaluated against the anomaly
-- rules. Paired with migrations/postgres/0006_anomaly_alerted.sql.
--
-- `alerted_at` is set in the same transaction that records the alerts (and their deliveries)
-- raised for the anomaly, so an anomaly stored by the detection job is alerted on exactly once
-- even when raising fails after it was stored: every run first raises for the anomalies still
-- NULL here. Anomalies stored before this version were handled when they were found.
ALTER TABLE anomalies ADD COLUMN alerted_at TEXT;

UPDATE anomalies SET alerted_at = created_at;

CREATE INDEX anomalies_to_alert ON anomalies (tenant, created_at, id) WHERE alerted_at IS NULL;
