-- 0015: the NARs the garbage collector deleted lately (meta.GC's
-- CollectObject; see meta/collected.go): a narinfo naming one of them
-- that arrives while the key holds nothing again is refused, so that a
-- push racing the collector is told to upload the NAR again instead of
-- leaving a path whose NAR is gone.
CREATE TABLE collected (
	bucket TEXT    NOT NULL REFERENCES buckets (name),
	key    TEXT    NOT NULL,
	at     INTEGER NOT NULL, -- when it was deleted, Unix nanoseconds
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
