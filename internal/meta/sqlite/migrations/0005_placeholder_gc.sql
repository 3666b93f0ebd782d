-- 0005 is the GC branch's migration (h11-gc); this placeholder only keeps
-- the numbers without gaps on the pins branch. Delete it when merging.
SELECT 1;
