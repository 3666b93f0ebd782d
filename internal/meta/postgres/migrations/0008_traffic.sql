-- 0008: the web console's traffic counters (meta.TrafficStore), as
-- SQLite's 0012: a table of their own rather than one setting per node
-- (traffic/NODE, JSON), whose every save notified every node.
CREATE TABLE traffic (
	node      text COLLATE "C" NOT NULL,
	bucket    text COLLATE "C" NOT NULL,
	hour      bigint NOT NULL, -- hours since the Unix epoch
	requests  bigint NOT NULL,
	bytes_in  bigint NOT NULL,
	bytes_out bigint NOT NULL,
	PRIMARY KEY (node, bucket, hour)
);

-- The settings' JSON was {"v":1,"b":{BUCKET:{HOUR:{"r":N,"i":N,"o":N}}}}.
-- A setting that is no such document is dropped rather than fail the
-- migration: it held counters only.
DO $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT name, value FROM settings WHERE starts_with(name, 'traffic/') AND length(name) > 8 LOOP
		BEGIN
			INSERT INTO traffic (node, bucket, hour, requests, bytes_in, bytes_out)
			SELECT substr(s.name, 9), b.key, h.key::bigint,
				coalesce((h.value->>'r')::bigint, 0), coalesce((h.value->>'i')::bigint, 0), coalesce((h.value->>'o')::bigint, 0)
			FROM jsonb_each(convert_from(s.value, 'UTF8')::jsonb->'b') AS b, jsonb_each(b.value) AS h
			WHERE jsonb_typeof(h.value) = 'object'
			ON CONFLICT (node, bucket, hour) DO NOTHING;
		EXCEPTION WHEN others THEN
			NULL; -- not the document above: its rows, if any, are rolled back
		END;
	END LOOP;
	DELETE FROM settings WHERE starts_with(name, 'traffic/');
END
$$;
