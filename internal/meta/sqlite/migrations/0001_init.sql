-- 0001: initial schema.
--
-- Keys and names are TEXT with the default BINARY collation, so they
-- compare bytewise: S3 listing order for UTF-8. Times are Unix nanoseconds.

CREATE TABLE buckets (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
) WITHOUT ROWID;

-- objects holds one row per key. attrs (headers, user metadata, checksums,
-- parts count) and segments (the object's blobs) are compact binary
-- encodings, see encode.go. segments is the last column, so listings, which
-- never read it, do not touch its overflow pages.
CREATE TABLE objects (
	bucket   TEXT    NOT NULL REFERENCES buckets (name),
	key      TEXT    NOT NULL,
	size     INTEGER NOT NULL,
	etag     TEXT    NOT NULL,
	modified INTEGER NOT NULL,
	attrs    BLOB    NOT NULL,
	segments BLOB    NOT NULL,
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

-- blob_refs counts how many object segments refer to each blob, so that
-- Referenced and garbage collection answer from one index lookup, and a
-- blob shared by two objects is not garbage until the last one goes.
CREATE TABLE blob_refs (
	blob TEXT PRIMARY KEY,
	refs INTEGER NOT NULL CHECK (refs > 0)
) WITHOUT ROWID;

-- uploads.attrs holds the headers and checksum algorithm, encoded as
-- objects.attrs.
CREATE TABLE uploads (
	id        TEXT    PRIMARY KEY,
	bucket    TEXT    NOT NULL REFERENCES buckets (name),
	key       TEXT    NOT NULL,
	initiated INTEGER NOT NULL,
	attrs     BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX uploads_by_key ON uploads (bucket, key, id);

CREATE TABLE parts (
	upload_id TEXT    NOT NULL REFERENCES uploads (id),
	number    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	etag      TEXT    NOT NULL,
	modified  INTEGER NOT NULL,
	checksum  TEXT    NOT NULL,
	blob      TEXT    NOT NULL,
	blob_size INTEGER NOT NULL,
	PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;

CREATE INDEX parts_by_blob ON parts (blob);

CREATE TABLE access_keys (
	id        TEXT    PRIMARY KEY,
	secret    TEXT    NOT NULL,
	user_name TEXT    NOT NULL,
	created   INTEGER NOT NULL,
	enabled   INTEGER NOT NULL
) WITHOUT ROWID;
