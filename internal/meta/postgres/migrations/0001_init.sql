-- 0001: the whole schema of the SQLite store's migrations 0001 to 0006,
-- in PostgreSQL's terms.
--
-- Keys and names are text COLLATE "C", so they compare bytewise: S3
-- listing order for UTF-8. Times are Unix microseconds (bigint), 0 for the
-- zero time. attrs, segments and string lists are the compact binary
-- encodings of encode.go, as in the SQLite store. Settings values are
-- bytea: they may hold any string, NUL included.

CREATE TABLE buckets (
	name    text COLLATE "C" PRIMARY KEY,
	created bigint NOT NULL
);

CREATE TABLE objects (
	bucket   text COLLATE "C" NOT NULL REFERENCES buckets (name),
	key      text COLLATE "C" NOT NULL,
	size     bigint NOT NULL,
	etag     text   NOT NULL,
	modified bigint NOT NULL,
	attrs    bytea  NOT NULL,
	segments bytea  NOT NULL,
	PRIMARY KEY (bucket, key)
);

-- blob_refs counts how many object segments refer to each blob.
CREATE TABLE blob_refs (
	blob text COLLATE "C" PRIMARY KEY,
	refs bigint NOT NULL CHECK (refs > 0)
);

CREATE TABLE uploads (
	id        text COLLATE "C" PRIMARY KEY,
	bucket    text COLLATE "C" NOT NULL REFERENCES buckets (name),
	key       text COLLATE "C" NOT NULL,
	initiated bigint NOT NULL,
	attrs     bytea  NOT NULL
);

CREATE INDEX uploads_by_key ON uploads (bucket, key, id);

CREATE TABLE parts (
	upload_id text COLLATE "C" NOT NULL REFERENCES uploads (id),
	number    integer NOT NULL,
	size      bigint  NOT NULL,
	etag      text    NOT NULL,
	modified  bigint  NOT NULL,
	checksum  text    NOT NULL,
	blob      text COLLATE "C" NOT NULL,
	blob_size bigint  NOT NULL,
	PRIMARY KEY (upload_id, number)
);

CREATE INDEX parts_by_blob ON parts (blob);

-- The administrator, "root", has access keys but no users row, so
-- access_keys.user_name has no foreign key.
CREATE TABLE access_keys (
	id        text COLLATE "C" PRIMARY KEY,
	secret    text    NOT NULL,
	user_name text COLLATE "C" NOT NULL,
	created   bigint  NOT NULL,
	enabled   boolean NOT NULL
);

CREATE TABLE users (
	name    text COLLATE "C" PRIMARY KEY,
	created bigint NOT NULL,
	policy  bytea
);

CREATE INDEX access_keys_by_user ON access_keys (user_name);

CREATE TABLE tokens (
	id        text COLLATE "C" PRIMARY KEY,
	user_name text COLLATE "C" NOT NULL REFERENCES users (name),
	hash      bytea  NOT NULL,
	created   bigint NOT NULL,
	expires   bigint NOT NULL,
	policy    bytea
);

CREATE INDEX tokens_by_user ON tokens (user_name, id);

CREATE TABLE bucket_policies (
	bucket text COLLATE "C" PRIMARY KEY REFERENCES buckets (name),
	policy bytea NOT NULL
);

CREATE TABLE settings (
	name  text COLLATE "C" PRIMARY KEY,
	value bytea NOT NULL
);

CREATE TABLE narinfos (
	bucket      text COLLATE "C" NOT NULL REFERENCES buckets (name),
	hash        text COLLATE "C" NOT NULL,
	file_size   bigint NOT NULL,
	nar_size    bigint NOT NULL,
	created     bigint NOT NULL,
	last_access bigint NOT NULL,
	store_path  text   NOT NULL,
	url         text   NOT NULL,
	compression text   NOT NULL,
	file_hash   text   NOT NULL,
	nar_hash    text   NOT NULL,
	deriver     text   NOT NULL,
	ca          text   NOT NULL,
	refs        bytea  NOT NULL,
	sigs        bytea  NOT NULL,
	PRIMARY KEY (bucket, hash)
);

CREATE TABLE cache_settings (
	bucket          text COLLATE "C" PRIMARY KEY REFERENCES buckets (name),
	priority        bigint  NOT NULL,
	want_mass_query boolean NOT NULL
);

CREATE TABLE signing_keys (
	bucket  text COLLATE "C" NOT NULL REFERENCES buckets (name),
	name    text COLLATE "C" NOT NULL,
	secret  text   NOT NULL,
	created bigint NOT NULL,
	PRIMARY KEY (bucket, name)
);

CREATE TABLE lifecycle_rules (
	bucket          text COLLATE "C" NOT NULL REFERENCES buckets (name),
	position        integer NOT NULL,
	id              text    NOT NULL,
	enabled         boolean NOT NULL,
	prefix          text    NOT NULL,
	abort_days      integer NOT NULL,
	expiration_days integer NOT NULL,
	PRIMARY KEY (bucket, position)
);

CREATE TABLE pins (
	bucket  text COLLATE "C" NOT NULL REFERENCES buckets (name),
	name    text COLLATE "C" NOT NULL,
	keep    integer NOT NULL,
	updated bigint  NOT NULL,
	paths   bytea   NOT NULL,
	PRIMARY KEY (bucket, name)
);

-- generation is the store's change counter (meta.Announcer): one row,
-- advanced in the transaction of every announced change. See gen.go.
CREATE TABLE generation (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	gen bigint  NOT NULL
);

INSERT INTO generation (one, gen) VALUES (true, 1);

-- Every advance of the generation notifies the listeners of every
-- instance, with the new value, when its transaction commits.
CREATE FUNCTION notify_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('nixbucket_generation', NEW.gen::text);
	RETURN NULL;
END
$$;

CREATE TRIGGER generation_notify AFTER UPDATE ON generation
	FOR EACH ROW EXECUTE FUNCTION notify_generation();
