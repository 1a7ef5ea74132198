-- Veritrail schema, version 1 (PostgreSQL). Paired with migrations/sqlite/0001_events.sql.

-- pgvector: the embeddings table of the search feature builds on it; enabling it now means a
-- database without the extension is found at the first start, not at the first search.
CREATE EXTENSION IF NOT EXISTS vector;

-- Key/value facts about this database. `event_format_version` is checked at start-up: a server
-- whose canonical encoding differs refuses to run rather than write a chain it cannot verify.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO meta (key, value) VALUES ('event_format_version', '1');

-- The audit log: one append-only hash chain per tenant. Rows are never updated or deleted by the
-- application; the triggers below refuse it even to direct SQL.
CREATE TABLE events (
    tenant            TEXT        NOT NULL,
    seq               BIGINT      NOT NULL,  -- position in the tenant's chain, gap-free from 0
    id                TEXT        NOT NULL,  -- client idempotency key or server UUIDv7
    occurred_at       TIMESTAMPTZ NOT NULL,  -- client time (microseconds, exactly as hashed)
    received_at       TIMESTAMPTZ NOT NULL,  -- server time
    actor_id          TEXT        NOT NULL,
    actor_type        TEXT        NOT NULL,
    actor_name        TEXT,
    actor_ip          TEXT,
    actor_user_agent  TEXT,
    action            TEXT        NOT NULL,
    resource_type     TEXT,
    resource_id       TEXT,
    resource_name     TEXT,
    outcome           TEXT        NOT NULL,
    severity          TEXT        NOT NULL,
    details           TEXT        NOT NULL,  -- canonical (RFC 8785) JSON text; TEXT, not jsonb, so the
                                             -- hashed bytes come back exactly as written
    tags              TEXT        NOT NULL,  -- JSON array of strings
    prev_hash         BYTEA       NOT NULL,  -- 32 bytes
    hash              BYTEA       NOT NULL,  -- 32 bytes: SHA-256(prev_hash || leaf)
    request_hash      BYTEA       NOT NULL,  -- fingerprint of the submitted content, for idempotent retries
    PRIMARY KEY (tenant, seq),
    UNIQUE (tenant, id)
);

CREATE INDEX events_actor ON events (tenant, actor_id, seq);
CREATE INDEX events_action ON events (tenant, action, seq);
CREATE INDEX events_resource ON events (tenant, resource_type, resource_id, seq);
CREATE INDEX events_occurred ON events (tenant, occurred_at);
CREATE INDEX events_hash ON events (tenant, hash);

CREATE FUNCTION veritrail_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'veritrail: events are append-only (% refused)', lower(TG_OP)
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION veritrail_refuse_change();

-- The end of each tenant's chain, updated in the same transaction as every append. Appends lock
-- this row (SELECT ... FOR UPDATE), so several servers on one database never fork a chain.
CREATE TABLE chain_heads (
    tenant     TEXT        PRIMARY KEY,
    next_seq   BIGINT      NOT NULL,  -- seq of the next event = number of events
    head_hash  BYTEA       NOT NULL,  -- hash of the last event, 32 zero bytes when empty
    frontier   BYTEA       NOT NULL,  -- Merkle tree right edge: roots of its complete subtrees,
                                      -- largest first, 32 bytes each (one per set bit of next_seq)
    updated_at TIMESTAMPTZ NOT NULL
);

-- The tenant's RFC 6962 Merkle tree over the events' leaf hashes: the root of every complete,
-- aligned subtree of two or more leaves. Node (level, idx) covers seqs idx * 2^level ..
-- (idx + 1) * 2^level - 1, level >= 1; a leaf (level 0) is the hash of its event row, which is
-- not stored twice. Written in the same transaction as the events, so any proof is answered from
-- O(log^2 n) rows and at most two events, never by reading the log.
CREATE TABLE merkle_nodes (
    tenant TEXT   NOT NULL,
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hash   BYTEA  NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);

CREATE TRIGGER merkle_nodes_no_update BEFORE UPDATE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();
CREATE TRIGGER merkle_nodes_no_delete BEFORE DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();

-- Every published signed checkpoint (C2SP signed note) of each tenant's Merkle tree; kept
-- forever so verifiers and witnesses can ask for consistency with any of them.
CREATE TABLE checkpoints (
    tenant     TEXT        NOT NULL,
    tree_size  BIGINT      NOT NULL,
    root_hash  BYTEA       NOT NULL,  -- 32 bytes, the RFC 6962 root at tree_size
    note       TEXT        NOT NULL,  -- the signed note, exactly as served
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, tree_size)
);

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION veritrail_refuse_change();

-- Background jobs: which replica may run a job now (a lease that expires, so a crashed runner
-- never blocks a job for long), and every run with its outcome.
CREATE TABLE job_leases (
    job        TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,  -- the replica (process) holding the lease
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE job_runs (
    id          TEXT        PRIMARY KEY,  -- UUIDv7, so ids sort by start time
    job         TEXT        NOT NULL,
    trigger     TEXT        NOT NULL,     -- schedule | manual
    holder      TEXT        NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT        NOT NULL,     -- success | failure
    error       TEXT,
    details     TEXT        NOT NULL      -- JSON: counts and findings of the run
);

CREATE INDEX job_runs_by_job ON job_runs (job, id);

-- API keys. Only SHA-256 of the secret is stored.
CREATE TABLE api_keys (
    id          TEXT        PRIMARY KEY,  -- public id: first 12 hex digits of key_hash
    tenant      TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    key_hash    BYTEA       NOT NULL UNIQUE,
    scopes      TEXT        NOT NULL,     -- comma-separated: ingest, read, admin
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
