-- Veritrail schema, version 9 (PostgreSQL): words split as SQLite splits them, and how many of a
-- tenant's distinct texts hold each lexeme. Paired with migrations/sqlite/0009_search_lexemes.sql,
-- which changes nothing: FTS5 already splits words so and keeps these statistics for its BM25.
--
-- - Words are split at / . : @ _ as well: PostgreSQL's parser keeps "staging/checkout/api-key",
--   "p2.xlarge" or "secretsmanager.amazonaws.com" as single tokens, so "checkout" or "xlarge"
--   found nothing. Queries translate their terms the same way.
-- - Full-text ranking weighs a question's terms by how rare they are (BM25's inverse document
--   frequency over distinct texts), and a term most texts contain ("user", "read") is only scored
--   among the texts the rarer terms find instead of making every text a candidate. `ts_rank_cd`
--   knows neither, and scored thousands of texts per question. Derived data, kept in the
--   transaction that adds the texts, and rebuilt here from the texts already indexed.
DROP INDEX search_texts_fts;
ALTER TABLE search_texts DROP COLUMN text_search;
ALTER TABLE search_texts
    ADD COLUMN text_search TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', translate(text, '/.:@_', '     '))) STORED;
CREATE INDEX search_texts_fts ON search_texts USING GIN (text_search);

CREATE TABLE search_lexemes (
    tenant TEXT   NOT NULL,
    lexeme TEXT   NOT NULL,
    texts  BIGINT NOT NULL,
    PRIMARY KEY (tenant, lexeme)
);

INSERT INTO search_lexemes (tenant, lexeme, texts)
SELECT t.tenant, x.lexeme, COUNT(*)
FROM search_texts t CROSS JOIN LATERAL unnest(tsvector_to_array(t.text_search)) AS x (lexeme)
GROUP BY t.tenant, x.lexeme;

-- The tenant's distinct texts and their lexemes in total (average text length for BM25).
ALTER TABLE search_progress
    ADD COLUMN texts BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN text_lexemes BIGINT NOT NULL DEFAULT 0;

UPDATE search_progress p
SET texts = s.texts, text_lexemes = s.lexemes
FROM (SELECT tenant, COUNT(*) AS texts, COALESCE(SUM(length(text_search)), 0) AS lexemes
      FROM search_texts GROUP BY tenant) s
WHERE s.tenant = p.tenant;
