-- Veritrail schema, version 4 (PostgreSQL): search ranks distinct texts, not documents. Paired
-- with migrations/sqlite/0004_search_texts.sql (which explains the why).
--
-- - full text over `search_texts` (one row per distinct text) instead of over every document;
-- - `search_text_facets`: which filter values each text's documents carry, so a filtered search
--   ranks only the texts that can have a matching document.
--
-- All of it is derived data, rebuilt here from the documents already indexed.

ALTER TABLE search_texts
    ADD COLUMN text_search TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED;
CREATE INDEX search_texts_fts ON search_texts USING GIN (text_search);

-- The per-document full-text index is no longer read.
DROP INDEX search_documents_fts;
ALTER TABLE search_documents DROP COLUMN text_search;

-- One row per text and combination of filter values among its documents, with their time span.
-- Absent values are '' so the key can be a primary key; no filter value is ever ''.
CREATE TABLE search_text_facets (
    tenant            TEXT        NOT NULL,
    text_hash         BYTEA       NOT NULL,
    actor_key         TEXT        NOT NULL,
    actor_name_key    TEXT        NOT NULL,
    action_key        TEXT        NOT NULL,
    resource_type_key TEXT        NOT NULL,
    outcome           TEXT        NOT NULL,
    ip_key            TEXT        NOT NULL,
    first_occurred    TIMESTAMPTZ NOT NULL,
    last_occurred     TIMESTAMPTZ NOT NULL,
    uses              BIGINT      NOT NULL,
    PRIMARY KEY (tenant, text_hash, actor_key, actor_name_key, action_key, resource_type_key, outcome, ip_key)
);

INSERT INTO search_text_facets
    SELECT tenant, text_hash, actor_key, COALESCE(actor_name_key, ''), action_key, COALESCE(resource_type_key, ''),
           outcome, COALESCE(ip_key, ''), MIN(occurred_at), MAX(occurred_at), COUNT(*)
    FROM search_documents
    GROUP BY tenant, text_hash, actor_key, COALESCE(actor_name_key, ''), action_key, COALESCE(resource_type_key, ''),
             outcome, COALESCE(ip_key, '');

-- Turning a text into its newest documents inside a time range is one range of this index.
CREATE INDEX search_documents_text_time ON search_documents (tenant, text_hash, occurred_at);
DROP INDEX search_documents_text;
