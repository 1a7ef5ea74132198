-- Veritrail schema, version 3 (SQLite): anomalies and their feedback, alert channels and rules,
-- and the alert outbox. Paired with migrations/postgres/0003_anomalies_alerts.sql.
--
-- None of this is covered by the hash chain: it is what the server concluded about the log and
-- whom it told, not the log. Times are 'YYYY-MM-DDTHH:MM:SS.ffffffZ' as in `events` (they sort as
-- time); ids are UUIDv7. JSON is stored as TEXT, as `tags` is, so one decoder serves both
-- backends. Rows that belong to a tenant refer to each other by (tenant, id), so a row can never
-- point at another tenant's.

-- One row per (subject, window, reason): re-running detection over a window finds the row and
-- stores nothing new. `status` is the latest verdict, `latest_feedback_id` its feedback row.
CREATE TABLE anomalies (
    id                 TEXT    PRIMARY KEY,
    tenant             TEXT    NOT NULL,
    subject_kind       TEXT    NOT NULL CHECK (subject_kind IN ('actor', 'tenant')),
    subject_id         TEXT    NOT NULL,
    window_start       TEXT    NOT NULL,  -- inclusive
    window_end         TEXT    NOT NULL,  -- exclusive
    reason             TEXT    NOT NULL,  -- stable key of subject + main reason
    score              REAL    NOT NULL CHECK (score >= 0 AND score <= 1),
    severity           TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    detectors          TEXT    NOT NULL,  -- JSON array of strings
    features           TEXT    NOT NULL,  -- JSON array of {name, observed, expected, contribution}
    narrative          TEXT    NOT NULL,
    event_ids          TEXT    NOT NULL,  -- JSON array of event ids
    status             TEXT    NOT NULL
        CHECK (status IN ('open', 'acknowledged', 'true_positive', 'false_positive')),
    latest_feedback_id TEXT,
    created_at         TEXT    NOT NULL,
    UNIQUE (tenant, id),
    UNIQUE (tenant, subject_kind, subject_id, window_start, window_end, reason)
) STRICT;

-- Newest first (and the pagination cursor) walks this index backwards.
CREATE INDEX anomalies_newest ON anomalies (tenant, window_start, id);
-- The windows marked false positive, read before scoring new windows.
CREATE INDEX anomalies_by_status ON anomalies (tenant, status, window_end);

-- Every piece of feedback, kept; the anomaly row points at the latest.
CREATE TABLE anomaly_feedback (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    anomaly_id TEXT NOT NULL,
    verdict    TEXT NOT NULL CHECK (verdict IN ('acknowledged', 'true_positive', 'false_positive')),
    note       TEXT,
    key_id     TEXT,               -- the API key that gave it
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant, anomaly_id) REFERENCES anomalies (tenant, id)
) STRICT;

CREATE INDEX anomaly_feedback_by_anomaly ON anomaly_feedback (tenant, anomaly_id, created_at);

-- At most one suppression per anomaly, created by its false-positive feedback and replaced or
-- removed by later feedback on it. Subject and reason are copied so the detection job reads
-- suppressions without a join.
CREATE TABLE anomaly_suppressions (
    anomaly_id   TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    until        TEXT NOT NULL,    -- in force while until > now
    FOREIGN KEY (tenant, anomaly_id) REFERENCES anomalies (tenant, id)
) STRICT;

CREATE INDEX anomaly_suppressions_active ON anomaly_suppressions (tenant, until);

-- How far the anomaly-detection job got, per tenant: the end of the last finished window.
CREATE TABLE anomaly_detection_progress (
    tenant     TEXT PRIMARY KEY,
    window_end TEXT NOT NULL
) STRICT;

-- Where alerts go. `config_public` never holds a secret; `secret` is encrypted by the server
-- before it gets here. Deleted channels keep their row (delivery history names them).
CREATE TABLE alert_channels (
    id            TEXT    PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('slack', 'email', 'webhook', 'discord', 'teams')),
    name          TEXT    NOT NULL,
    config_public TEXT    NOT NULL,  -- JSON object
    secret        BLOB,
    disabled      INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at    TEXT    NOT NULL,
    deleted_at    TEXT,
    UNIQUE (tenant, id)
) STRICT;

CREATE INDEX alert_channels_by_tenant ON alert_channels (tenant, created_at);

CREATE TABLE alert_rules (
    id               TEXT    PRIMARY KEY,
    tenant           TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('anomaly', 'event')),
    min_severity     TEXT    NOT NULL,
    match_spec       TEXT,              -- JSON object, or NULL for none
    cooldown_seconds INTEGER CHECK (cooldown_seconds >= 0),  -- NULL: the server's default
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at       TEXT    NOT NULL,
    UNIQUE (tenant, id)
) STRICT;

CREATE INDEX alert_rules_by_tenant ON alert_rules (tenant, created_at);

-- The channels of each rule, in order.
CREATE TABLE alert_rule_channels (
    tenant     TEXT    NOT NULL,
    rule_id    TEXT    NOT NULL,
    channel_id TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (rule_id, channel_id),
    FOREIGN KEY (tenant, rule_id) REFERENCES alert_rules (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, channel_id) REFERENCES alert_channels (tenant, id)
) STRICT;

CREATE INDEX alert_rule_channels_by_channel ON alert_rule_channels (tenant, channel_id);

-- The outbox. An alert and its deliveries are written in one transaction; the delivery worker
-- leases due deliveries (lease_holder, lease_until) so two servers never send the same one, and a
-- lease that runs out hands the delivery to another worker. `rule_id` has no foreign key: alerts
-- outlive the rules that raised them, and integrity alerts have none.
CREATE TABLE alerts (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    rule_id    TEXT,
    dedup_key  TEXT NOT NULL,
    message    TEXT NOT NULL,  -- JSON
    created_at TEXT NOT NULL,
    UNIQUE (tenant, id)
) STRICT;

CREATE INDEX alerts_newest ON alerts (tenant, created_at, id);
-- Cooldowns: the last alert of a rule and dedup key.
CREATE INDEX alerts_cooldown ON alerts (tenant, rule_id, dedup_key, created_at);

CREATE TABLE alert_deliveries (
    id              TEXT    PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    alert_id        TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),  -- counted when claimed
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    delivered_at    TEXT,
    lease_holder    TEXT,
    lease_until     TEXT,
    created_at      TEXT    NOT NULL,
    UNIQUE (alert_id, channel_id),
    FOREIGN KEY (tenant, alert_id) REFERENCES alerts (tenant, id),
    FOREIGN KEY (tenant, channel_id) REFERENCES alert_channels (tenant, id)
) STRICT;

-- What the worker polls: only pending rows, earliest due first.
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_newest ON alert_deliveries (tenant, created_at, id);
CREATE INDEX alert_deliveries_by_channel ON alert_deliveries (channel_id) WHERE status = 'pending';
