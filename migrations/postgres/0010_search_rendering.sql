-- Which version of the event rendering (`veritrail_core::render::RENDERING_VERSION`) a tenant's
-- search documents were written with. 0 means "before versions were kept": the indexing job then
-- rebuilds the tenant's documents with the current rendering, keeping vectors, which are keyed by
-- text hash, so only texts whose rendering changed are embedded again. `prune_vectors` is set by
-- that rebuild and cleared once the documents have caught up and the vectors no text uses any
-- more are deleted.
ALTER TABLE search_progress ADD COLUMN rendering INTEGER NOT NULL DEFAULT 0;
ALTER TABLE search_progress ADD COLUMN prune_vectors INTEGER NOT NULL DEFAULT 0;
