-- Veritrail schema, version 14 (SQLite): full-text statistics per tenant. Paired with
-- migrations/postgres/0014_search_fulltext_per_tenant.sql, which changes nothing: PostgreSQL
-- already weighs terms by the tenant's own counts (search_lexemes, search_progress).
--
-- FTS5's bm25() weighs a term by statistics of its whole table: the number of rows, their
-- average length and how many rows hold the term. With every tenant's texts in one table
-- (search_text_fts), a tenant's scores moved with other tenants' texts, so comparing scores
-- told a tenant whether a word occurs in another tenant's events. Each tenant now has a table of
-- its own, `search_text_fts_<id>` with the id below, whose statistics are the tenant's.
--
-- SQL cannot name a table after a row, so the server creates the tables: a tenant's in the
-- transaction that first indexes its texts, and those of tenants indexed before this version
-- right after the migrations, from search_texts (derived data, like everything in search_*).
CREATE TABLE search_fulltext_tables (
    id     INTEGER PRIMARY KEY,  -- the tenant's table is search_text_fts_<id>
    tenant TEXT    NOT NULL UNIQUE
) STRICT;

DROP TRIGGER search_texts_fts_insert;
DROP TRIGGER search_texts_fts_delete;
DROP TABLE search_text_fts;
