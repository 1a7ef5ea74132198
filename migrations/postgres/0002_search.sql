-- Veritrail schema, version 2 (PostgreSQL): the search index. Paired with
-- migrations/sqlite/0002_search.sql.
--
-- Everything here is derived data. The embed-backfill job fills it off the ingest path (an append
-- never writes these tables), it may lag the log, and it could be dropped and rebuilt from
-- `events` at any time: nothing in it is covered by a hash. `events` is only ever read to build it.

-- One search document per event: the event's plain-language rendering plus copies of the fields
-- searches filter on, so a filtered search never joins `events`.
--
-- The `*_key` columns hold values lower-cased by the server (Unicode rules), because filters match
-- them case-insensitively and lower() here depends on the database's locale: folding in one place
-- keeps both backends identical. The original spellings are kept in `search_vocabulary`.
CREATE TABLE search_documents (
    tenant            TEXT        NOT NULL,
    seq               BIGINT      NOT NULL,  -- the event's seq
    occurred_at       TIMESTAMPTZ NOT NULL,
    actor_key         TEXT        NOT NULL,  -- actor.id, lower-cased
    actor_name_key    TEXT,                  -- actor.name, lower-cased
    action_key        TEXT        NOT NULL,  -- action, lower-cased
    resource_type_key TEXT,                  -- resource.type, lower-cased
    outcome           TEXT        NOT NULL,
    ip_key            TEXT,                  -- actor.ip as 32 lower-case hex digits of the IPv6
                                             -- address (IPv4 as IPv4-mapped IPv6), so an address or
                                             -- CIDR filter is one range [lo, hi], exactly as on
                                             -- SQLite; NULL when absent or unparsable
    text              TEXT        NOT NULL,  -- the rendering that is full-text indexed and embedded
    text_hash         BYTEA       NOT NULL,  -- SHA-256 of text (32 bytes): the key of its vectors
    -- English stemming (so "logins" finds "login"), computed by the database on insert.
    text_search       TSVECTOR    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (tenant, seq)
);

-- Filters. Each filter column has an index led by the tenant; those that are matched by equality
-- end in seq, so "newest first" walks the index backwards instead of sorting.
CREATE INDEX search_documents_occurred ON search_documents (tenant, occurred_at);
CREATE INDEX search_documents_actor ON search_documents (tenant, actor_key, seq);
CREATE INDEX search_documents_actor_name ON search_documents (tenant, actor_name_key, seq);
CREATE INDEX search_documents_action ON search_documents (tenant, action_key, seq);
CREATE INDEX search_documents_resource_type ON search_documents (tenant, resource_type_key, seq);
CREATE INDEX search_documents_ip ON search_documents (tenant, ip_key);
-- Vector search finds texts first, then the newest documents of each text.
CREATE INDEX search_documents_text ON search_documents (tenant, text_hash, seq);
-- Full text, ranked with ts_rank_cd.
CREATE INDEX search_documents_fts ON search_documents USING GIN (text_search);

-- Each distinct text of a tenant once, with its first use: the work list of embedding. Texts
-- are embedded in order of first use, so "documents without a vector" never means scanning
-- documents: it is the texts after the embedding watermark that have no vector, walked by
-- first_seq.
CREATE TABLE search_texts (
    tenant    TEXT   NOT NULL,
    text_hash BYTEA  NOT NULL,  -- SHA-256 of text
    first_seq BIGINT NOT NULL,  -- seq of the first document with this text
    text      TEXT   NOT NULL,
    PRIMARY KEY (tenant, text_hash)
);

CREATE INDEX search_texts_first_use ON search_texts (tenant, first_seq);

-- How far documents go, per tenant: written in the same transaction as the documents (which lock
-- this row), so indexed_until and progress never count rows.
CREATE TABLE search_progress (
    tenant        TEXT   PRIMARY KEY,
    indexed_until BIGINT NOT NULL  -- first seq without a document; every seq below has one
);

-- Distinct actor ids and names, actions and resource types with how many documents use them,
-- counted as documents are inserted: query understanding reads it for every question, which must
-- not scan the documents.
CREATE TABLE search_vocabulary (
    tenant TEXT   NOT NULL,
    kind   TEXT   NOT NULL,  -- actor (ids and names) | action | resource_type
    value  TEXT   NOT NULL,  -- spelled as in the event
    uses   BIGINT NOT NULL,  -- documents using the value
    PRIMARY KEY (tenant, kind, value)
);

-- Embeddings, stored once per distinct text per tenant and model (audit events repeat heavily).
-- The column is vector(384) (all-MiniLM-L6-v2); the server refuses other lengths before they get
-- here, with the same message on both backends.
CREATE TABLE search_vectors (
    tenant    TEXT        NOT NULL,
    model     TEXT        NOT NULL,
    text_hash BYTEA       NOT NULL,  -- SHA-256 of the text
    vector    vector(384) NOT NULL,
    PRIMARY KEY (tenant, model, text_hash)
);

-- Approximate nearest neighbours by cosine distance. One graph for all tenants and models: queries
-- filter on (tenant, model) and use pgvector's iterative index scans to keep going until enough
-- rows pass, falling back to an exact scan when the index gives up.
CREATE INDEX search_vectors_hnsw ON search_vectors USING hnsw (vector vector_cosine_ops);

-- How far embedding goes, per tenant and model: every document below embedded_until has a vector
-- for the model, so its texts are too and pending texts are only looked for after it. It moves
-- forward when vectors are stored and when pending texts are looked up; progress reports it as
-- the number of embedded documents without counting rows.
CREATE TABLE search_embedding_progress (
    tenant         TEXT   NOT NULL,
    model          TEXT   NOT NULL,
    embedded_until BIGINT NOT NULL,
    PRIMARY KEY (tenant, model)
);
