-- 0014: objects becomes a rowid table, as narinfos did in 0013.
--
-- In a WITHOUT ROWID table the whole row lives in the primary key's b-tree,
-- and SQLite compares a probe with a cell whose row spills onto overflow
-- pages by reading the whole row. An object's row spills when its segments
-- list is long (a 5 GiB NAR uploaded in 1,024 parts: 40 KB) or holds its
-- bytes inline (up to 16 KiB), so lookups passing such rows, and listings,
-- which compare every row they return with the range's end, read their
-- overflow chains. Now the key index holds (bucket, key) only, and a
-- lookup reads segments and tags of the row it finds only.
CREATE TABLE objects_rowid (
	bucket   TEXT    NOT NULL REFERENCES buckets (name),
	key      TEXT    NOT NULL,
	size     INTEGER NOT NULL,
	etag     TEXT    NOT NULL,
	modified INTEGER NOT NULL,
	attrs    BLOB    NOT NULL,
	segments BLOB    NOT NULL,
	tags     BLOB    NOT NULL DEFAULT x'',
	PRIMARY KEY (bucket, key)
);

INSERT INTO objects_rowid (bucket, key, size, etag, modified, attrs, segments, tags)
SELECT bucket, key, size, etag, modified, attrs, segments, tags FROM objects ORDER BY bucket, key;

DROP TABLE objects;
ALTER TABLE objects_rowid RENAME TO objects;

-- objects_list covers the listings (ScanObjects: key, size, etag, modified,
-- attrs) and Usage's sums, in key order, so a page reads neither the table
-- nor a row's segments: a listing of small objects costs what it did when
-- the rows were the key's b-tree, one of big objects no longer reads their
-- segments. attrs spill only with kilobytes of user metadata.
CREATE INDEX objects_list ON objects (bucket, key, size, etag, modified, attrs);
