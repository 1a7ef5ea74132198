-- Veritrail schema, version 12 (SQLite): reports, report schedules and their runs. Paired with
-- migrations/postgres/0012_reports.sql.
--
-- A report row is written `pending` by the request and claimed by one worker under a lease
-- (`lease_holder`, `lease_until`); the worker writes the file (`content`) and the evidence
-- bundle of its events (`evidence`, a tar archive) in the same statement that marks it `done`.
-- A schedule's `next_run_at` moves forward in the same transaction that records its run, and
-- only if it still holds the due time read: replicas racing for one due run record it once.
CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    format          TEXT NOT NULL,
    status          TEXT NOT NULL,           -- pending | running | done | failed
    since           TEXT NOT NULL,
    until           TEXT NOT NULL,
    filter          TEXT NOT NULL,           -- JSON object
    subject         TEXT,
    requested_by    TEXT NOT NULL,
    schedule_id     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_holder    TEXT,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    pages           INTEGER,
    events          INTEGER,
    sha256          TEXT,
    checkpoint_size INTEGER,
    checkpoint_root TEXT,
    error           TEXT,
    content         BLOB,
    evidence        BLOB
) STRICT;

CREATE INDEX reports_by_tenant ON reports (tenant, id);
CREATE INDEX reports_to_claim ON reports (status, created_at);

CREATE TABLE report_schedules (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    cron        TEXT NOT NULL,
    report      TEXT NOT NULL,               -- JSON {kind, format, period, filter, subject?}
    channels    TEXT NOT NULL,               -- JSON array of alert channel ids
    next_run_at TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE INDEX report_schedules_due ON report_schedules (next_run_at);

CREATE TABLE report_runs (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    schedule_id   TEXT NOT NULL REFERENCES report_schedules (id) ON DELETE CASCADE,
    run_trigger   TEXT NOT NULL,             -- schedule | manual
    scheduled_for TEXT NOT NULL,
    report_id     TEXT,
    status        TEXT NOT NULL,             -- running | sent | failed
    error         TEXT,
    deliveries    TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    finished_at   TEXT
) STRICT;

CREATE INDEX report_runs_by_schedule ON report_runs (tenant, schedule_id, created_at);
