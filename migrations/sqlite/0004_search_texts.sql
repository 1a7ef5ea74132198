-- Veritrail schema, version 4 (SQLite): search ranks distinct texts, not documents. Paired with
-- migrations/postgres/0004_search_texts.sql.
--
-- Audit events repeat: a million events render to tens of thousands of distinct texts. Full-text
-- and vector ranking now work on those texts; documents are only read to turn the best texts into
-- events (newest first, filters applied). Two things make that possible:
--
-- - full text over `search_texts` (one row per distinct text) instead of over every document;
-- - `search_text_facets`: which filter values each text's documents carry, so a filtered search
--   ranks only the texts that can have a matching document instead of probing every text.
--
-- All of it is derived data, rebuilt here from the documents already indexed.

-- search_texts gets a stable integer key for its FTS5 table (an implicit rowid could be
-- renumbered by VACUUM).
CREATE TABLE search_texts_keyed (
    id        INTEGER PRIMARY KEY,
    tenant    TEXT    NOT NULL,
    text_hash BLOB    NOT NULL,  -- SHA-256 of text
    first_seq INTEGER NOT NULL,  -- seq of the first document with this text
    text      TEXT    NOT NULL,
    UNIQUE (tenant, text_hash)
) STRICT;

INSERT INTO search_texts_keyed (tenant, text_hash, first_seq, text)
    SELECT tenant, text_hash, first_seq, text FROM search_texts ORDER BY tenant, first_seq;
DROP TABLE search_texts;
ALTER TABLE search_texts_keyed RENAME TO search_texts;
CREATE INDEX search_texts_first_use ON search_texts (tenant, first_seq);

-- Full text per distinct text: contentless (the text is in search_texts), porter stemming over
-- unicode61 tokens, ranked with bm25(). Document frequencies now count distinct texts, so an
-- event repeated ten thousand times does not make its words look common.
CREATE VIRTUAL TABLE search_text_fts USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61'
);

INSERT INTO search_text_fts (rowid, text) SELECT id, text FROM search_texts;

CREATE TRIGGER search_texts_fts_insert AFTER INSERT ON search_texts
BEGIN
    INSERT INTO search_text_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER search_texts_fts_delete AFTER DELETE ON search_texts
BEGIN
    DELETE FROM search_text_fts WHERE rowid = old.id;
END;

-- The per-document full-text index is no longer read.
DROP TRIGGER search_documents_fts_insert;
DROP TRIGGER search_documents_fts_delete;
DROP TABLE search_fts;

-- One row per text and combination of filter values among its documents (usually one per text:
-- the rendering names the actor, action, resource type, outcome and address), with the time span
-- of those documents. A filtered search first selects the texts whose facets pass the filter
-- (times as overlap), which reads these few rows rather than the documents. Absent values are ''
-- so the key can be a primary key; no filter value is ever ''.
CREATE TABLE search_text_facets (
    tenant            TEXT    NOT NULL,
    text_hash         BLOB    NOT NULL,
    actor_key         TEXT    NOT NULL,
    actor_name_key    TEXT    NOT NULL,
    action_key        TEXT    NOT NULL,
    resource_type_key TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    ip_key            TEXT    NOT NULL,
    first_occurred    TEXT    NOT NULL,  -- earliest occurred_at of these documents
    last_occurred     TEXT    NOT NULL,  -- latest occurred_at of these documents
    uses              INTEGER NOT NULL,  -- documents counted
    PRIMARY KEY (tenant, text_hash, actor_key, actor_name_key, action_key, resource_type_key, outcome, ip_key)
) STRICT;

INSERT INTO search_text_facets
    SELECT tenant, text_hash, actor_key, COALESCE(actor_name_key, ''), action_key, COALESCE(resource_type_key, ''),
           outcome, COALESCE(ip_key, ''), MIN(occurred_at), MAX(occurred_at), COUNT(*)
    FROM search_documents
    GROUP BY tenant, text_hash, actor_key, COALESCE(actor_name_key, ''), action_key, COALESCE(resource_type_key, ''),
             outcome, COALESCE(ip_key, '');

-- Turning a text into its newest documents inside a time range is one range of this index.
CREATE INDEX search_documents_text_time ON search_documents (tenant, text_hash, occurred_at);
DROP INDEX search_documents_text;
