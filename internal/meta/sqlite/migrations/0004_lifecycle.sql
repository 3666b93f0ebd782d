-- 0004: bucket lifecycle configurations (S3's ?lifecycle).

-- lifecycle_rules holds a bucket's rules in the order they were set; a
-- bucket without rows has none (its uploads are aborted after the default
-- number of days). Days of 0 mean the rule has no such action.
CREATE TABLE lifecycle_rules (
	bucket          TEXT    NOT NULL REFERENCES buckets (name),
	position        INTEGER NOT NULL,
	id              TEXT    NOT NULL,
	enabled         INTEGER NOT NULL,
	prefix          TEXT    NOT NULL,
	abort_days      INTEGER NOT NULL,
	expiration_days INTEGER NOT NULL,
	PRIMARY KEY (bucket, position)
) WITHOUT ROWID;
