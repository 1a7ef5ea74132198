-- Veritrail schema, version 13 (SQLite): a job run covers every tenant or one. Paired with
-- migrations/postgres/0013_job_run_tenant.sql.
--
-- A tenant's admin runs a job for its own tenant only; its run record carries that tenant so
-- other tenants never see it. NULL: a run over every tenant (the schedule, the operator).
ALTER TABLE job_runs ADD COLUMN tenant TEXT;

CREATE INDEX job_runs_by_tenant ON job_runs (job, tenant, id);
