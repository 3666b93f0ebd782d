-- 0009: the refusal of a narinfo whose NAR the bucket does not hold when
-- it is indexed (meta.ErrNARMissing; see meta/collected.go). A put's
-- statements go to PostgreSQL in one batch ending in COMMIT, so the
-- refusal is an error a statement of the batch raises (SQLSTATE NB001),
-- which skips the rest, COMMIT included.
CREATE FUNCTION nixbucket_nar_missing(bucket text, key text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'NB001',
		MESSAGE = format('URL: %s is not in bucket %s', key, bucket);
END
$$;
