-- 0006: pull-through buckets, as SQLite's 0010. upstreams and
-- upstream_keys are space-separated lists (URLs; name:base64 public keys);
-- zero TTL and connection limit mean the defaults.
ALTER TABLE cache_settings ADD COLUMN upstreams text NOT NULL DEFAULT '';
ALTER TABLE cache_settings ADD COLUMN upstream_keys text NOT NULL DEFAULT '';
ALTER TABLE cache_settings ADD COLUMN upstream_trust_any boolean NOT NULL DEFAULT false;
ALTER TABLE cache_settings ADD COLUMN upstream_negative_ttl_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE cache_settings ADD COLUMN upstream_max_conns bigint NOT NULL DEFAULT 0;
