-- Veritrail schema, version 14 (PostgreSQL): nothing changes. Paired with
-- migrations/sqlite/0014_search_fulltext_per_tenant.sql, which gives each tenant its own FTS5
-- table so that SQLite's BM25 statistics are the tenant's own; here full-text ranking already
-- weighs terms by the tenant's counts only (search_lexemes and search_progress, migration 0009).
SELECT 1;
