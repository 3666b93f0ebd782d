-- 0006: pins, named references to store paths that GC keeps with their
-- closures. paths holds the kept revisions, newest first, as a string list
-- in the compact encoding of encode.go; keep is how many of them to keep.
CREATE TABLE pins (
	bucket  TEXT    NOT NULL REFERENCES buckets (name),
	name    TEXT    NOT NULL,
	keep    INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	paths   BLOB    NOT NULL,
	PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
