-- 0002: per-bucket retention and garbage-collection settings (meta.GC).
-- A bucket without a row has meta.DefaultRetention (no GC). grace is in
-- nanoseconds.
CREATE TABLE retention (
	bucket    text COLLATE "C" PRIMARY KEY REFERENCES buckets (name),
	keep_days bigint  NOT NULL,
	max_size  bigint  NOT NULL,
	gc        boolean NOT NULL,
	grace     bigint  NOT NULL
);
