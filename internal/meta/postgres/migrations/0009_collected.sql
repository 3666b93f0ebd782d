-- 0009: the NARs the garbage collector deleted lately, as SQLite's 0015
-- (meta.GC's CollectObject; see meta/collected.go). A put's statements go
-- to PostgreSQL in one batch ending in COMMIT, so the refusal of a
-- narinfo naming a collected NAR is an error the batch's statement
-- raises (SQLSTATE NB001), which skips the rest, COMMIT included.
CREATE TABLE collected (
	bucket text COLLATE "C" NOT NULL REFERENCES buckets (name),
	key    text COLLATE "C" NOT NULL,
	at     bigint NOT NULL, -- when it was deleted, Unix microseconds
	PRIMARY KEY (bucket, key)
);

CREATE FUNCTION nixbucket_refuse_collected(bucket text, key text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'NB001',
		MESSAGE = format('%s in bucket %s was garbage-collected', key, bucket);
END
$$;
