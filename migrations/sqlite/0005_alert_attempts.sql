-- Veritrail schema, version 5 (SQLite): the history of alert delivery attempts. Paired with
-- migrations/postgres/0005_alert_attempts.sql.
--
-- One row per attempt whose result a worker recorded, written in the same transaction that
-- records the result on the delivery, by the worker holding its lease. An attempt cut short by a
-- crash has no row; the delivery's `attempts` (counted when claimed) still counts it. Ids are
-- UUIDv7, times as in `events`.
CREATE TABLE alert_delivery_attempts (
    id          TEXT    PRIMARY KEY,
    tenant      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 0),  -- the delivery's attempt count then
    holder      TEXT    NOT NULL,
    finished_at TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error       TEXT,
    FOREIGN KEY (delivery_id) REFERENCES alert_deliveries (id)
) STRICT;

CREATE INDEX alert_delivery_attempts_by_delivery ON alert_delivery_attempts (tenant, delivery_id, finished_at, id);
