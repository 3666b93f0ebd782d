-- 0002: identity and access: users, tokens, bucket policies, settings.
--
-- Policies are JSON documents stored verbatim as BLOBs, NULL for none.

-- The administrator, "root", has access keys but no users row, so
-- access_keys.user_name has no foreign key; deleting a user deletes its
-- keys explicitly.
CREATE TABLE users (
	name    TEXT    PRIMARY KEY,
	created INTEGER NOT NULL,
	policy  BLOB
) WITHOUT ROWID;

CREATE INDEX access_keys_by_user ON access_keys (user_name);

-- tokens.hash is the SHA-256 of the secret, never the secret. expires is 0
-- for a token that does not expire.
CREATE TABLE tokens (
	id        TEXT    PRIMARY KEY,
	user_name TEXT    NOT NULL REFERENCES users (name),
	hash      BLOB    NOT NULL,
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	policy    BLOB
) WITHOUT ROWID;

CREATE INDEX tokens_by_user ON tokens (user_name, id);

CREATE TABLE bucket_policies (
	bucket TEXT PRIMARY KEY REFERENCES buckets (name),
	policy BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
