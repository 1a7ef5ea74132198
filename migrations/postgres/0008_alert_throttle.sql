-- Veritrail schema, version 8 (PostgreSQL): cooldowns kept per (tenant, rule, dedup key). Paired
-- with migrations/sqlite/0008_alert_throttle.sql (which explains the why).
CREATE TABLE alert_throttle (
    tenant        TEXT NOT NULL,
    rule_key      TEXT NOT NULL,
    dedup_key     TEXT NOT NULL,
    last_alert_at TIMESTAMPTZ,
    PRIMARY KEY (tenant, rule_key, dedup_key)
);

INSERT INTO alert_throttle (tenant, rule_key, dedup_key, last_alert_at)
SELECT tenant, COALESCE(rule_id, ''), dedup_key, MAX(created_at) FROM alerts
GROUP BY tenant, COALESCE(rule_id, ''), dedup_key;
