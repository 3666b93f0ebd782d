-- 0013: narinfos becomes a rowid table, its primary key an index of its own.
--
-- In a WITHOUT ROWID table the whole row lives in the primary key's b-tree,
-- and SQLite compares a probe with a cell whose row spills onto overflow
-- pages by reading the whole row: a narinfo with many references (TeX Live
-- has thousands; an uploader may write 1 MiB) made every lookup that passed
-- it read its overflow chain, 2 ms per lookup in a bucket of such rows, and
-- the console's closure walk does thousands. Now the key index holds only
-- (bucket, hash), and a row's refs and sigs are read only when selected.
CREATE TABLE narinfos_rowid (
	bucket      TEXT    NOT NULL REFERENCES buckets (name),
	hash        TEXT    NOT NULL,
	file_size   INTEGER NOT NULL,
	nar_size    INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	last_access INTEGER NOT NULL,
	store_path  TEXT    NOT NULL,
	url         TEXT    NOT NULL,
	compression TEXT    NOT NULL,
	file_hash   TEXT    NOT NULL,
	nar_hash    TEXT    NOT NULL,
	deriver     TEXT    NOT NULL,
	ca          TEXT    NOT NULL,
	refs        BLOB    NOT NULL,
	sigs        BLOB    NOT NULL,
	PRIMARY KEY (bucket, hash)
);

INSERT INTO narinfos_rowid (bucket, hash, file_size, nar_size, created, last_access, store_path, url,
	compression, file_hash, nar_hash, deriver, ca, refs, sigs)
SELECT bucket, hash, file_size, nar_size, created, last_access, store_path, url,
	compression, file_hash, nar_hash, deriver, ca, refs, sigs FROM narinfos ORDER BY bucket, hash;

-- Dropping the table drops its indexes (0003's narinfos_sizes, 0009's
-- narinfos_name and narinfos_created); they are made again, the last two
-- ending in hash: a WITHOUT ROWID table's index entries ended in its key,
-- which made their order (name, hash) and (created, hash) that of the
-- console's queries; a rowid table's end in the rowid.
DROP TABLE narinfos;
ALTER TABLE narinfos_rowid RENAME TO narinfos;

CREATE INDEX narinfos_sizes ON narinfos (bucket, nar_size, file_size);
CREATE INDEX narinfos_name ON narinfos (bucket, substr(store_path, instr(store_path, hash) + 33), hash);
CREATE INDEX narinfos_created ON narinfos (bucket, created, hash);
