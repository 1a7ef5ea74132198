-- Veritrail schema, version 1 (SQLite). Paired with migrations/postgres/0001_events.sql.

-- Key/value facts about this database. `event_format_version` is checked at start-up: a server
-- whose canonical encoding differs refuses to run rather than write a chain it cannot verify.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('event_format_version', '1');

-- The audit log: one append-only hash chain per tenant. Rows are never updated or deleted by the
-- application; the triggers below refuse it even to direct SQL.
CREATE TABLE events (
    tenant            TEXT    NOT NULL,
    seq               INTEGER NOT NULL,  -- position in the tenant's chain, gap-free from 0
    id                TEXT    NOT NULL,  -- client idempotency key or server UUIDv7
    occurred_at       TEXT    NOT NULL,  -- client time, 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (sorts as time)
    received_at       TEXT    NOT NULL,  -- server time, same format
    actor_id          TEXT    NOT NULL,
    actor_type        TEXT    NOT NULL,
    actor_name        TEXT,
    actor_ip          TEXT,
    actor_user_agent  TEXT,
    action            TEXT    NOT NULL,
    resource_type     TEXT,
    resource_id       TEXT,
    resource_name     TEXT,
    outcome           TEXT    NOT NULL,
    severity          TEXT    NOT NULL,
    details           TEXT    NOT NULL,  -- canonical (RFC 8785) JSON object
    tags              TEXT    NOT NULL,  -- JSON array of strings
    prev_hash         BLOB    NOT NULL,  -- 32 bytes
    hash              BLOB    NOT NULL,  -- 32 bytes: SHA-256(prev_hash || leaf)
    request_hash      BLOB    NOT NULL,  -- fingerprint of the submitted content, for idempotent retries
    PRIMARY KEY (tenant, seq),
    UNIQUE (tenant, id)
) STRICT;

CREATE INDEX events_actor ON events (tenant, actor_id, seq);
CREATE INDEX events_action ON events (tenant, action, seq);
CREATE INDEX events_resource ON events (tenant, resource_type, resource_id, seq);
CREATE INDEX events_occurred ON events (tenant, occurred_at);
CREATE INDEX events_hash ON events (tenant, hash);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'veritrail: events are append-only (update refused)');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'veritrail: events are append-only (delete refused)');
END;

-- The end of each tenant's chain, updated in the same transaction as every append. Appends
-- serialise on this row; verification compares the log against it to find a cut-off tail.
CREATE TABLE chain_heads (
    tenant     TEXT    PRIMARY KEY,
    next_seq   INTEGER NOT NULL,  -- seq of the next event = number of events
    head_hash  BLOB    NOT NULL,  -- hash of the last event, 32 zero bytes when empty
    frontier   BLOB    NOT NULL,  -- Merkle tree right edge: roots of its complete subtrees,
                                  -- largest first, 32 bytes each (one per set bit of next_seq)
    updated_at TEXT    NOT NULL
) STRICT;

-- The tenant's RFC 6962 Merkle tree over the events' leaf hashes: the root of every complete,
-- aligned subtree of two or more leaves. Node (level, idx) covers seqs idx * 2^level ..
-- (idx + 1) * 2^level - 1, level >= 1; a leaf (level 0) is the hash of its event row, which is
-- not stored twice. Written in the same transaction as the events, so any proof is answered from
-- O(log^2 n) rows and at most two events, never by reading the log.
CREATE TABLE merkle_nodes (
    tenant TEXT    NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB    NOT NULL,
    PRIMARY KEY (tenant, level, idx)
) STRICT;

CREATE TRIGGER merkle_nodes_no_update BEFORE UPDATE ON merkle_nodes
BEGIN
    SELECT RAISE(ABORT, 'veritrail: merkle nodes are append-only (update refused)');
END;

CREATE TRIGGER merkle_nodes_no_delete BEFORE DELETE ON merkle_nodes
BEGIN
    SELECT RAISE(ABORT, 'veritrail: merkle nodes are append-only (delete refused)');
END;

-- Every published signed checkpoint (C2SP signed note) of each tenant's Merkle tree; kept
-- forever so verifiers and witnesses can ask for consistency with any of them.
CREATE TABLE checkpoints (
    tenant     TEXT    NOT NULL,
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB    NOT NULL,  -- 32 bytes, the RFC 6962 root at tree_size
    note       TEXT    NOT NULL,  -- the signed note, exactly as served
    created_at TEXT    NOT NULL,
    PRIMARY KEY (tenant, tree_size)
) STRICT;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'veritrail: checkpoints are append-only (update refused)');
END;

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'veritrail: checkpoints are append-only (delete refused)');
END;

-- Background jobs: which replica may run a job now (a lease that expires, so a crashed runner
-- never blocks a job for long), and every run with its outcome.
CREATE TABLE job_leases (
    job        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,  -- the replica (process) holding the lease
    expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE job_runs (
    id          TEXT PRIMARY KEY,  -- UUIDv7, so ids sort by start time
    job         TEXT NOT NULL,
    trigger     TEXT NOT NULL,     -- schedule | manual
    holder      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL,     -- success | failure
    error       TEXT,
    details     TEXT NOT NULL      -- JSON: counts and findings of the run
) STRICT;

CREATE INDEX job_runs_by_job ON job_runs (job, id);

-- API keys. Only SHA-256 of the secret is stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,  -- public id: first 12 hex digits of key_hash
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,     -- comma-separated: ingest, read, admin
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
