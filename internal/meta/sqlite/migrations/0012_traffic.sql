-- 0012: the web console's traffic counters (meta.TrafficStore), one row
-- per node, bucket and hour, in a table of their own: they used to be one
-- setting per node (traffic/NODE, JSON), and every save of a setting
-- announced a change that made every node's caches reload.
CREATE TABLE traffic (
	node      TEXT    NOT NULL,
	bucket    TEXT    NOT NULL,
	hour      INTEGER NOT NULL, -- hours since the Unix epoch
	requests  INTEGER NOT NULL,
	bytes_in  INTEGER NOT NULL,
	bytes_out INTEGER NOT NULL,
	PRIMARY KEY (node, bucket, hour)
) WITHOUT ROWID;

-- The settings' JSON was {"v":1,"b":{BUCKET:{HOUR:{"r":N,"i":N,"o":N}}}}.
-- A value that is no such document is dropped rather than fail the
-- migration: it held counters only.
INSERT OR REPLACE INTO traffic (node, bucket, hour, requests, bytes_in, bytes_out)
SELECT substr(s.name, 9), b.key, CAST(h.key AS INTEGER),
	coalesce(json_extract(h.value, '$.r'), 0), coalesce(json_extract(h.value, '$.i'), 0), coalesce(json_extract(h.value, '$.o'), 0)
FROM settings AS s,
	-- CASE evaluates lazily: json_type never sees an invalid document.
	json_each(CASE WHEN NOT json_valid(s.value) THEN '{}'
		WHEN json_type(s.value, '$.b') = 'object' THEN json_extract(s.value, '$.b') ELSE '{}' END) AS b,
	json_each(CASE WHEN b.type = 'object' THEN b.value ELSE '{}' END) AS h
WHERE substr(s.name, 1, 8) = 'traffic/' AND length(s.name) > 8
	AND h.type = 'object' AND CAST(h.key AS INTEGER) > 0;

DELETE FROM settings WHERE substr(name, 1, 8) = 'traffic/';
