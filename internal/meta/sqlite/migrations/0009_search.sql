-- 0009: indexes for the web console's search and recent pushes
-- (meta.Search). narinfos_name indexes a path's name, the store path after
-- "<hash>-" (the expression must be written the same way in queries for
-- SQLite to use it); narinfos_created orders a bucket's pushes by time.
CREATE INDEX narinfos_name ON narinfos (bucket, substr(store_path, instr(store_path, hash) + 33));
CREATE INDEX narinfos_created ON narinfos (bucket, created);
