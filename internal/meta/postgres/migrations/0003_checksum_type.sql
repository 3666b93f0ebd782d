-- 0003: the x-amz-checksum-type (FULL_OBJECT or COMPOSITE) a multipart
-- upload was created with, which decides how CompleteMultipartUpload derives
-- the object's checksum from the parts'. Empty for uploads that named no
-- checksum. (An object's own type needs no column: a COMPOSITE value ends
-- in "-N".)
ALTER TABLE uploads ADD COLUMN checksum_type text NOT NULL DEFAULT '';
