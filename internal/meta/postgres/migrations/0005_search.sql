-- 0005: indexes for the web console's search and recent pushes
-- (meta.Search), as SQLite's 0009. narinfos_name indexes a path's name,
-- the store path after "<hash>-", in byte order (COLLATE "C") so prefix
-- ranges use it; queries write the expression the same way.
CREATE INDEX narinfos_name ON narinfos (bucket, (substr(store_path, strpos(store_path, hash) + 33) COLLATE "C"));
CREATE INDEX narinfos_created ON narinfos (bucket, created);
