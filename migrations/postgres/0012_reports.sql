-- Veritrail schema, version 12 (PostgreSQL): reports, report schedules and their runs. Paired
-- with migrations/sqlite/0012_reports.sql (which explains the why).
CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    format          TEXT NOT NULL,
    status          TEXT NOT NULL,
    since           TIMESTAMPTZ NOT NULL,
    until           TIMESTAMPTZ NOT NULL,
    filter          TEXT NOT NULL,
    subject         TEXT,
    requested_by    TEXT NOT NULL,
    schedule_id     TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_holder    TEXT,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    pages           BIGINT,
    events          BIGINT,
    sha256          TEXT,
    checkpoint_size BIGINT,
    checkpoint_root TEXT,
    error           TEXT,
    content         BYTEA,
    evidence        BYTEA
);

CREATE INDEX reports_by_tenant ON reports (tenant, id);
CREATE INDEX reports_to_claim ON reports (status, created_at);

CREATE TABLE report_schedules (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    cron        TEXT NOT NULL,
    report      TEXT NOT NULL,
    channels    TEXT NOT NULL,
    next_run_at TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX report_schedules_due ON report_schedules (next_run_at);

CREATE TABLE report_runs (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    schedule_id   TEXT NOT NULL REFERENCES report_schedules (id) ON DELETE CASCADE,
    run_trigger   TEXT NOT NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    report_id     TEXT,
    status        TEXT NOT NULL,
    error         TEXT,
    deliveries    TEXT NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);

CREATE INDEX report_runs_by_schedule ON report_runs (tenant, schedule_id, created_at);
