-- Dashboard users and their sessions (PostgreSQL). Paired with migrations/sqlite/0011_users.sql.

-- A person who signs in to the dashboard: one tenant, one role. API keys stay for machines.
CREATE TABLE users (
    id             TEXT        PRIMARY KEY,  -- UUIDv7
    tenant         TEXT        NOT NULL,
    username       TEXT        NOT NULL,
    role           TEXT        NOT NULL,     -- admin, analyst, auditor or viewer
    password_hash  TEXT        NOT NULL,     -- Argon2id, PHC string format
    disabled       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant, username)
);

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a copy
-- of the database signs nobody in. Deleting the row revokes the session.
CREATE TABLE sessions (
    token_hash    BYTEA       PRIMARY KEY,   -- SHA-256 of the cookie's token
    tenant        TEXT        NOT NULL,
    user_id       TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    TEXT        NOT NULL,      -- sent back in X-CSRF-Token by unsafe requests
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL       -- absolute expiry; idle expiry counts from last_seen_at
);

CREATE INDEX sessions_user ON sessions (user_id);
