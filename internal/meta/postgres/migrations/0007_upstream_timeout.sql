-- 0007: the narinfo timeout of pull-through buckets, as SQLite's 0011;
-- 0 means the default.
ALTER TABLE cache_settings ADD COLUMN upstream_timeout_ms bigint NOT NULL DEFAULT 0;
