-- 0011: how long a pull-through bucket waits for an upstream's answer to a
-- narinfo request (internal/upstream's NarinfoTimeout); 0 means the
-- default.
ALTER TABLE cache_settings ADD COLUMN upstream_timeout_ms INTEGER NOT NULL DEFAULT 0;
