-- Reserved: the checksums migration of issue #13 (branch s3sum) takes
-- this number, and the tags migration after it was numbered to follow.
-- migration.Load refuses a gap, so this file holds the place until that
-- one lands; whoever merges second drops this file for the real one.
-- Nothing here changes the schema.
SELECT 1;
