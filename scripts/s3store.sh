# Sourced by scripts/test.sh: starts one versitygw (posix backend, temp dir)
# as the S3 store of the whole run, and tells the tests where it is through
# NIXBUCKET_TEST_S3_* (internal/testenv.S3Store; without them each test
# binary starts its own). A watcher stops it and removes its directory when
# the script that sourced this exits, however it exits.
s3store_dir=$(mktemp -d /tmp/nixbucket-s3store.XXXXXX)
mkdir "$s3store_dir/root"
s3store_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export NIXBUCKET_TEST_S3_ENDPOINT="http://127.0.0.1:$s3store_port"
export NIXBUCKET_TEST_S3_ROOT="$s3store_dir/root"
export NIXBUCKET_TEST_S3_ACCESS_KEY=TESTSTOREACCESSKEY
export NIXBUCKET_TEST_S3_SECRET_KEY=test-store-secret-key-for-versitygw
ROOT_ACCESS_KEY=$NIXBUCKET_TEST_S3_ACCESS_KEY ROOT_SECRET_KEY=$NIXBUCKET_TEST_S3_SECRET_KEY \
	versitygw --port "127.0.0.1:$s3store_port" --keep-alive --quiet posix "$NIXBUCKET_TEST_S3_ROOT" \
	>"$s3store_dir/versitygw.log" 2>&1 &
s3store_pid=$!
# The watcher turns errexit off: it inherits set -e, and versitygw is not
# its child (wait fails), so the first failing command would end it before
# the directory's removal (it left ~800 MB per run in /tmp).
(
	set +e
	while kill -0 $$ 2>/dev/null; do sleep 1; done
	kill "$s3store_pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$s3store_pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -rf "$s3store_dir"
) </dev/null >/dev/null 2>&1 &
for _ in $(seq 150); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$s3store_port") 2>/dev/null; then
		break
	fi
	kill -0 "$s3store_pid" 2>/dev/null || break
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$s3store_port") 2>/dev/null ||
	die "versitygw (the tests' S3 store) did not start: $(tail -n 5 "$s3store_dir/versitygw.log")"
say "S3 store for the tests: versitygw at $NIXBUCKET_TEST_S3_ENDPOINT ($NIXBUCKET_TEST_S3_ROOT)"
