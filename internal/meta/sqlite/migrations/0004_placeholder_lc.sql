-- 0004 is the lifecycle branch's migration (h11-lc); this placeholder only
-- keeps the numbers without gaps on the pins branch. Delete it when merging.
SELECT 1;
