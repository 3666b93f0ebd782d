-- 0004: object tags (S3's object tagging), as SQLite's 0008. tags holds an
-- object's tags, or an upload's for the object it completes, as
-- metaenc.EncodeTags encodes them: empty for none, which every row written
-- before has.
ALTER TABLE objects ADD COLUMN tags bytea NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN tags bytea NOT NULL DEFAULT '';
