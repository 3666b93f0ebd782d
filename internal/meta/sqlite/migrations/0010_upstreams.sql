-- 0010: pull-through buckets (internal/upstream). A bucket whose upstreams
-- is not empty fetches the paths it lacks from those caches, in order.
-- upstreams and upstream_keys are space-separated lists (URLs; name:base64
-- public keys); zero TTL and connection limit mean the defaults.
ALTER TABLE cache_settings ADD COLUMN upstreams TEXT NOT NULL DEFAULT '';
ALTER TABLE cache_settings ADD COLUMN upstream_keys TEXT NOT NULL DEFAULT '';
ALTER TABLE cache_settings ADD COLUMN upstream_trust_any INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cache_settings ADD COLUMN upstream_negative_ttl_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cache_settings ADD COLUMN upstream_max_conns INTEGER NOT NULL DEFAULT 0;
