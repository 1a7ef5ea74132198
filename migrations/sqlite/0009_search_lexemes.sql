-- Veritrail schema, version 9 (SQLite): nothing changes. Paired with
-- migrations/postgres/0009_search_lexemes.sql, which keeps per-lexeme text counts so PostgreSQL
-- can rank full text by BM25; FTS5 keeps those statistics itself.
SELECT 1;
