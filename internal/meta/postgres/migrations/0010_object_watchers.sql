-- 0010: which listeners keep answers about a bucket's objects in memory
-- (see watchers.go). A write to a bucket waits only for the
-- acknowledgements of these; a row of a listener that is gone is deleted
-- by the next registration.
CREATE TABLE object_watchers (
	bucket text NOT NULL,
	pid integer NOT NULL,
	since timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bucket, pid)
);
