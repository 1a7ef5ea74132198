-- Veritrail schema, version 8 (SQLite): cooldowns kept per (tenant, rule, dedup key). Paired with
-- migrations/postgres/0008_alert_throttle.sql.
--
-- When an alert with a cooldown is recorded, its row here is read and moved under a lock in the
-- same transaction (SQLite's write lock; `FOR UPDATE` on PostgreSQL), so two servers raising the
-- same subject of the same rule at once record one alert. `rule_key` is the rule id, '' for
-- alerts no rule raises. Seeded with the latest alert of each rule and key recorded so far.
CREATE TABLE alert_throttle (
    tenant        TEXT NOT NULL,
    rule_key      TEXT NOT NULL,
    dedup_key     TEXT NOT NULL,
    last_alert_at TEXT,            -- NULL until an alert with a cooldown is recorded
    PRIMARY KEY (tenant, rule_key, dedup_key)
) STRICT;

INSERT INTO alert_throttle (tenant, rule_key, dedup_key, last_alert_at)
SELECT tenant, COALESCE(rule_id, ''), dedup_key, MAX(created_at) FROM alerts
GROUP BY tenant, COALESCE(rule_id, ''), dedup_key;
