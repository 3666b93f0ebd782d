-- 0008: object tags (S3's object tagging). tags holds an object's tags,
-- or an upload's for the object it completes, as metaenc.EncodeTags
-- encodes them: empty for none, which every row written before has. It is
-- the objects table's last column, after segments: listings read neither.
ALTER TABLE objects ADD COLUMN tags BLOB NOT NULL DEFAULT x'';
ALTER TABLE uploads ADD COLUMN tags BLOB NOT NULL DEFAULT x'';
