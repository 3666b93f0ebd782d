-- 0005: per-bucket retention and garbage-collection settings.

-- retention holds a bucket's policy once set; a bucket without a row has
-- meta.DefaultRetention (no GC). grace is in nanoseconds.
CREATE TABLE retention (
	bucket    TEXT    PRIMARY KEY REFERENCES buckets (name),
	keep_days INTEGER NOT NULL,
	max_size  INTEGER NOT NULL,
	gc        INTEGER NOT NULL,
	grace     INTEGER NOT NULL
) WITHOUT ROWID;
