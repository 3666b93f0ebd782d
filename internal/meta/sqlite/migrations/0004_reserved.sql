-- 0004: reserved for the S3 lifecycle configuration (issue 11, item 6),
-- developed on another branch. This empty placeholder keeps the numbering
-- without gaps until that migration lands; it is replaced by it on merge.
SELECT 1;
