#!/usr/bin/env bash
# scale.sh benchmarks the scale-out backends side by side with the embedded
# default, in one run, on loopback. It starts its own PostgreSQL cluster
# (Debian's postgresql: initdb as postgres, a free port, a temp dir, the
# pg_stat_statements library loaded), its own versitygw (posix backend) as
# the S3 store, and these nixbucket servers:
#   E  embedded: --data only (SQLite and local blobs)
#   A  --meta postgres://… --blobs s3://… (the node the one-node rows measure)
#   B  the same database and bucket, a second node behind nginx with A
#   R  the same, with --redirect-reads
#   C  the same, with the blob cache on (the default of --blobs s3://…;
#      A, B and R run with --blob-cache-size 0, so they stream every NAR)
# It pushes a closure (shared/corpus/make-closure.sh) and one path with a
# ~64 MiB NAR (compression=none) to E and to A with `nix copy`, gives
# nix-cache the anonymous-read policy (or keeps it private: BENCH_AUTH), then
# measures, each row ROUNDS times per target, rotating which target goes
# first, and reports medians and ratios:
#   1. narinfo GET hits, repeated misses (1,000 keys) and unique misses on
#      one node: E against A (wrk, bench/nix/paths.lua). Target: hits on A
#      ≥ 0.7× E.
#   2. NAR GET: E and A streaming, against a GET straight from the store
#      (the same NAR uploaded to another bucket, a presigned URL, so the
#      store checks a signature as it does for A's signed GETs), all three
#      with wrk at the same concurrency. Target: A ≥ 0.8× the store.
#      C, its blob cache warmed by one GET before (the fill awaited), at
#      the same concurrency: the NAR from its local copy, with sendfile
#      (internal/storage/blobcache); its misses must stay at that one.
#      --redirect-reads (R): wrk cannot follow a 307, so bench/scaletool,
#      a Go client that follows redirects as Nix does, GETs through R and
#      straight from the store, at the same concurrency; wrk gives R's
#      rate of 307 answers on its own.
#   3. PUT 1 MiB and 64 MiB through A against PUT straight to the store
#      (bench/s3bench, aws-sdk-go-v2, signed payloads). Target ≥ 0.8×.
#   4. Two nodes behind nginx (contrib/nginx/nixbucket.conf, Debian's
#      nginx-light) against one node (A alone, and A alone behind the same
#      nginx config), narinfo hits and repeated misses at the same wrk
#      connections. On 2 cores two nodes cannot show more capacity, so the
#      table gives CPU per request (utime+stime from /proc/PID/stat of the
#      nixbucket processes, of nginx's master and workers, and of the
#      postmaster with every backend, live or exited) and PostgreSQL
#      statements per request. Target: 0 statements on a narinfo hit whose
#      bucket has not changed.
# PostgreSQL statements are counted exactly by pg_stat_statements (the sum
# of calls in nixbucket's database, read just before and just after each
# run; BEGIN and COMMIT are statements of their own, and
# pgx sends each statement in one round trip of its own, so the count is
# the round trips too, but for the batches of a PutObject (one or two
# round trips for all its statements: meta/postgres putpipe.go), one more
# when a connection first prepares a statement, and pgxpool's health
# checks of connections idle over a second, an empty query "-- ping" that
# pg_stat_statements does not record). The background work of the nodes in that window (batched
# access-time writes) is counted in, but for their liveness pings (pg_calls).
# A markdown section goes to stdout, progress to stderr. Everything runs in
# a temporary directory removed at the end.
#
# Usage: bench/scale.sh
#
# Environment:
#   BENCH_DIR        parent of the temporary directory (default /tmp)
#   BENCH_DURATION   seconds per wrk or scaletool run (default 5)
#   BENCH_ROUNDS     runs per row and target (default 3)
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNS      connections for narinfo rows (default 32)
#   BENCH_NAR_CONNS  connections for NAR rows (default 8)
#   BENCH_PATHS      paths in the closure (default 50)
#   BENCH_KIB        random KiB per closure path (default 64)
#   BENCH_NAR_MIB    MiB of the big path, whose NAR the NAR rows read (default 64)
#   BENCH_PUT_CONC   concurrency levels of the PUT rows (default 1,16)
#   BENCH_PUT_DURATION  time budget of an s3bench cell (default 1500ms)
#   BENCH_AUTH       anonymous (default: nix-cache gets the anonymous-read
#                    policy) or basic (nix-cache stays private; every
#                    request but the store's own carries the admin key as
#                    HTTP Basic)
#   BENCH_PG_DURABLE 1 (default) keeps PostgreSQL's defaults (fsync and
#                    synchronous_commit on, as a deployment runs); 0 turns
#                    them off, as the tests' cluster does
#   BENCH_ONLY       nar: only the NAR GET rows (1 and 2 above are skipped
#                    but for the NAR ones, 3 and 4 entirely); default: all
#   BENCH_TIMEOUT    limit for the measuring part in seconds (default 720;
#                    the defaults take about 500 s, builds and pushes (about
#                    a minute when the Go and Nix builds are cached) come on top)
#   BENCH_CORPUS     directory of make-closure.sh (default ../shared/corpus)
#   VERSITYGW        versitygw binary (default: PATH, then $(go env GOPATH)/bin)
#
# Needs root (single-user Nix store; PostgreSQL then runs as postgres) and
# Debian's nix-bin, postgresql, nginx-light, wrk and curl, and versitygw
# (scripts/test.sh installs them all).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
corpus=${BENCH_CORPUS:-$(cd "$repo/.." && pwd)/shared/corpus}
parent=${BENCH_DIR:-/tmp}
duration=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-3}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNS:-32}
nar_conns=${BENCH_NAR_CONNS:-8}
npaths=${BENCH_PATHS:-50}
kib=${BENCH_KIB:-64}
nar_mib=${BENCH_NAR_MIB:-64}
put_conc=${BENCH_PUT_CONC:-1,16}
put_duration=${BENCH_PUT_DURATION:-1500ms}
auth_mode=${BENCH_AUTH:-anonymous}
pg_durable=${BENCH_PG_DURABLE:-1}
limit=${BENCH_TIMEOUT:-720}
only=${BENCH_ONLY:-}
lua=$repo/bench/nix/paths.lua
nginx_conf=$repo/contrib/nginx/nixbucket.conf

log() { echo "scale.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in nix nix-build nginx wrk curl go; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nix-bin postgresql nginx-light wrk curl)"
done
[ -x /usr/bin/time ] || die "no /usr/bin/time, which gives the clients' CPU time (apt-get install -y time)"
case "$auth_mode" in anonymous | basic) ;; *) die "BENCH_AUTH must be anonymous or basic, not $auth_mode" ;; esac
case "$only" in '' | nar) ;; *) die "BENCH_ONLY must be nar or empty, not $only" ;; esac
[ -x "$corpus/make-closure.sh" ] || die "no $corpus/make-closure.sh"
[ "$(id -u)" = 0 ] || die "needs root (single-user Nix store)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || die "no /usr/lib/postgresql/*/bin (apt-get install postgresql)"
[ -f "$("$pgbin/pg_config" --pkglibdir)/pg_stat_statements.so" ] || die "PostgreSQL has no pg_stat_statements"
vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
[ -x "$vgw" ] || die "no versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)"

tmp=$(mktemp -d "$parent/nixbucket-bench-scale.XXXXXX")
# PostgreSQL runs as postgres and nginx's workers as nobody: both must
# reach their directories under $tmp.
chmod 755 "$tmp"
pids=() watchdog='' pg_started=''
cleanup() {
	local pid
	if [ -n "$watchdog" ]; then kill "$watchdog" 2>/dev/null || true; fi
	# Servers first (nginx, nixbucket), then what they use.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[$i]}"; done
	if [ -n "$pg_started" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"

used_ports=' '
# new_port prints a free port not handed out before in this run.
new_port() {
	local p
	p=$(free_port)
	while [[ "$used_ports" == *" $p "* ]]; do p=$(free_port); done
	used_ports+="$p "
	echo "$p"
}

cd "$repo"
log "building nixbucket, s3bench and scaletool"
go build -o "$tmp/nixbucket" ./cmd/nixbucket
go build -o "$tmp/s3bench" ./bench/s3bench
go build -o "$tmp/scaletool" ./bench/scaletool
nb=$tmp/nixbucket

# --- PostgreSQL ----------------------------------------------------------------
pg_port=$(new_port)
mkdir -p "$tmp/pg"
chown postgres: "$tmp/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync \
	>"$tmp/pg/initdb.log" 2>&1 || { cat "$tmp/pg/initdb.log" >&2; die "initdb failed"; }
pg_opts="-p $pg_port -k $tmp/pg -c listen_addresses=127.0.0.1 -c max_connections=200"
pg_opts+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on"
if [ "$pg_durable" = 0 ]; then
	pg_opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
log "starting PostgreSQL $(basename "$(dirname "$pgbin")") on :$pg_port"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w -t 60 -o "$pg_opts" start >/dev/null ||
	{ cat "$tmp/pg/log" >&2; die "starting PostgreSQL failed"; }
pg_started=1
pg_pid=$(head -1 "$tmp/pg/data/postmaster.pid")
pgq() { "$pgbin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "$1"; }
pgq "CREATE DATABASE nixbucket" >/dev/null
pgq "CREATE EXTENSION pg_stat_statements" >/dev/null
meta_url="postgres://postgres@127.0.0.1:$pg_port/nixbucket?sslmode=disable"
nbdb="(SELECT oid FROM pg_database WHERE datname = 'nixbucket')"

# --- versitygw ------------------------------------------------------------------
# --keep-alive: versitygw closes every connection after one request unless
# asked; --quiet: no per-request log line.
vgw_port=$(new_port)
vgw_ak=$(random_hex 10) vgw_sk=$(random_hex 20)
mkdir -p "$tmp/s3"
log "starting versitygw on :$vgw_port"
ROOT_ACCESS_KEY=$vgw_ak ROOT_SECRET_KEY=$vgw_sk "$vgw" --port "127.0.0.1:$vgw_port" --keep-alive --quiet \
	posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
vgw_pid=$!
pids+=("$vgw_pid")
wait_port "$vgw_port" "$vgw_pid" 15
store=http://127.0.0.1:$vgw_port
# The store's credentials, for scaletool and the nodes' AWS default chain.
s3env=(AWS_ACCESS_KEY_ID="$vgw_ak" AWS_SECRET_ACCESS_KEY="$vgw_sk" AWS_REGION=us-east-1
	AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_PROFILE=)
tool() { env "${s3env[@]}" "$tmp/scaletool" "$@"; }
tool mkbucket -endpoint "$store" blobs direct
blobs_url="s3://blobs/cache?endpoint=$store"

# --- nixbucket ------------------------------------------------------------------
# start_node NAME ARGS... starts nixbucket serve with data in $tmp/NAME and
# sets node_pid and node_port.
start_node() {
	local name=$1
	shift
	node_port=$(new_port)
	env "${s3env[@]}" "$nb" serve --listen "127.0.0.1:$node_port" --data "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
	node_pid=$!
	pids+=("$node_pid")
	wait_port "$node_port" "$node_pid" 15
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$node_port/-/health")" = 200 ] && break
		sleep 0.05
	done
	[ -s "$tmp/$name/netrc" ] || die "node $name wrote no netrc"
}
log "starting nixbucket: E (embedded), then A, B, R, C (PostgreSQL + S3)"
start_node e
pid_e=$node_pid port_e=$node_port
# A alone first: a first start on an empty database creates the admin key
# and nix-cache; B and R then find them.
# A, B and R stream every NAR from the store (the blob cache off); C keeps
# hot blobs on its disk, as a node does by default.
start_node a --meta "$meta_url" --blobs "$blobs_url" --blob-cache-size 0
pid_a=$node_pid port_a=$node_port
start_node b --meta "$meta_url" --blobs "$blobs_url" --blob-cache-size 0
pid_b=$node_pid port_b=$node_port
start_node r --meta "$meta_url" --blobs "$blobs_url" --redirect-reads --blob-cache-size 0
pid_r=$node_pid port_r=$node_port
start_node c --meta "$meta_url" --blobs "$blobs_url"
pid_c=$node_pid port_c=$node_port
cmp -s "$tmp/a/netrc" "$tmp/b/netrc" || die "nodes A and B have different admin keys"

# --- data ------------------------------------------------------------------------
# make-closure.sh's GC-root symlink lands in $tmp (TMPDIR), so it goes with it.
log "building closures ($npaths paths x $kib KiB, and one $nar_mib MiB path)"
top=$(TMPDIR=$tmp "$corpus/make-closure.sh" "$npaths" "$kib" benchscale)
big=$(TMPDIR=$tmp "$corpus/make-closure.sh" 1 $((nar_mib * 1024)) bigscale)
export XDG_CACHE_HOME=$tmp/xdg
for n in e a; do
	port_var=port_$n
	log "pushing to $n"
	nixc --option netrc-file "$tmp/$n/netrc" --to "http://127.0.0.1:${!port_var}/nix-cache?compression=zstd" "$top"
	nixc --option netrc-file "$tmp/$n/netrc" --to "http://127.0.0.1:${!port_var}/nix-cache?compression=none" "$big"
done

read -r _ _ _ key_id _ secret < <(head -1 "$tmp/a/netrc")
basic_a="Basic $(printf '%s:%s' "$key_id" "$secret" | base64 -w0)"
read -r _ _ _ key_id _ secret < <(head -1 "$tmp/e/netrc")
basic_e="Basic $(printf '%s:%s' "$key_id" "$secret" | base64 -w0)"
if [ "$auth_mode" = anonymous ]; then
	"$nb" bucket policy set nix-cache anonymous-read --data "$tmp/e" >/dev/null
	"$nb" bucket policy set nix-cache anonymous-read --meta "$meta_url" >/dev/null
	basic_a='' basic_e=''
fi

# Request lists: the closure's narinfos, random absent hashes, the big NAR.
for p in $(nix-store -q --requisites "$top"); do
	echo "/nix-cache/$(basename "$p" | cut -c1-32).narinfo"
done >"$tmp/hits.txt"
od -An -v -tu1 -N32000 /dev/urandom | tr -s ' ' '\n' | grep . |
	awk 'BEGIN { a = "0123456789abcdfghijklmnpqrsvwxyz" }
	{ s = s substr(a, $1 % 32 + 1, 1) } length(s) == 32 { print "/nix-cache/" s ".narinfo"; s = "" }' >"$tmp/misses.txt"
[ "$(wc -l <"$tmp/hits.txt")" = "$npaths" ] || die "expected $npaths narinfos in hits.txt"
[ "$(wc -l <"$tmp/misses.txt")" = 1000 ] || die "expected 1000 misses"

# get URL AUTH [CURL ARGS...] writes the body to stdout.
get() {
	local url=$1 auth=$2 h=()
	shift 2
	if [ -n "$auth" ]; then h=(-H "Authorization: $auth"); fi
	curl -sf "${h[@]}" "$@" "$url"
}
big_hash=$(basename "$big" | cut -c1-32)
nar_url=$(get "http://127.0.0.1:$port_a/nix-cache/$big_hash.narinfo" "$basic_a" | awk '/^URL: /{print $2}')
nar_url_e=$(get "http://127.0.0.1:$port_e/nix-cache/$big_hash.narinfo" "$basic_e" | awk '/^URL: /{print $2}')
[ -n "$nar_url" ] && [ "$nar_url" = "$nar_url_e" ] || die "the big NAR's URL differs between E ($nar_url_e) and A ($nar_url)"
echo "/nix-cache/$nar_url" >"$tmp/nar.txt"

# Both nodes hold the same narinfos but for the Sig line (each its own key).
log "comparing E and A"
while read -r path; do
	cmp -s <(get "http://127.0.0.1:$port_e$path" "$basic_e" | grep -v '^Sig: ') \
		<(get "http://127.0.0.1:$port_a$path" "$basic_a" | grep -v '^Sig: ') || die "$path differs between E and A"
done <"$tmp/hits.txt"
get "http://127.0.0.1:$port_e/nix-cache/$nar_url" "$basic_e" >"$tmp/big.nar"
nar_size=$(stat -c %s "$tmp/big.nar")
get "http://127.0.0.1:$port_a/nix-cache/$nar_url" "$basic_a" | cmp -s - "$tmp/big.nar" ||
	die "A serves another NAR than E for $nar_url"
get "http://127.0.0.1:$port_r/nix-cache/$nar_url" "$basic_a" -L | cmp -s - "$tmp/big.nar" ||
	die "R (--redirect-reads, followed) serves another NAR than E for $nar_url"
# metric PORT SERIES prints a series' value from a node's /-/metrics.
metric() { curl -sf "http://127.0.0.1:$1/-/metrics" | awk -v s="$2" '$1 == s { print $2 }'; }
# C's first GET streams from the store and fills its blob cache; the
# fill is awaited, so the runs read the local copy.
get "http://127.0.0.1:$port_c/nix-cache/$nar_url" "$basic_a" | cmp -s - "$tmp/big.nar" ||
	die "C serves another NAR than E for $nar_url"
for _ in $(seq 600); do
	[ "$(metric "$port_c" 'nixbucket_blob_cache_fills_total{result="done"}')" = 1 ] && break
	sleep 0.1
done
[ "$(metric "$port_c" 'nixbucket_blob_cache_fills_total{result="done"}')" = 1 ] || die "C did not fill its blob cache with the NAR"
get "http://127.0.0.1:$port_c/nix-cache/$nar_url" "$basic_a" | cmp -s - "$tmp/big.nar" ||
	die "C serves another NAR than E for $nar_url from its blob cache"

# The same NAR straight from the store, at a presigned URL wrk can send.
tool put -endpoint "$store" -bucket direct -key "nar/$nar_url" "$tmp/big.nar"
presigned=$(tool presign -endpoint "$store" -bucket direct -key "nar/$nar_url" -expires 2h)
echo "${presigned#"$store"}" >"$tmp/direct.txt"
get "$presigned" '' | cmp -s - "$tmp/big.nar" || die "the store serves another NAR at the presigned URL"
rm -f "$tmp/big.nar"

# --- nginx -----------------------------------------------------------------------
# start_nginx NAME PORT UPSTREAM_PORT... runs contrib/nginx/nixbucket.conf
# with its example addresses replaced: the first node for 10.0.0.1:9000,
# the second (if any) for 10.0.0.2:9000, the listen port for 80. The
# wrapper has what nix.sh's nginx has: no access log, and keepalive_requests
# high enough that wrk's connections are never recycled.
start_nginx() {
	local name=$1 port=$2 one=$3 two=${4:-} dir=$tmp/$1 del=()
	mkdir -p "$dir"
	# One node: the second node's line goes, before any substitution.
	if [ -z "$two" ]; then del=(-e '/10\.0\.0\.2:9000/d'); fi
	sed "${del[@]}" -e "s/10\.0\.0\.1:9000/127.0.0.1:$one/" -e "s/10\.0\.0\.2:9000/127.0.0.1:$two/" \
		-e "s/listen 80;/listen 127.0.0.1:$port;/" "$nginx_conf" >"$dir/nixbucket.conf"
	for want in "127.0.0.1:$one" "listen 127.0.0.1:$port;" ${two:+"127.0.0.1:$two"}; do
		grep -qF "$want" "$dir/nixbucket.conf" || die "$nginx_conf: no example address left to replace with $want"
	done
	cat >"$dir/nginx.conf" <<-EOF
		worker_processes 2;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		daemon off;
		events {
			worker_connections 4096;
		}
		http {
			access_log off;
			keepalive_requests 1000000;
			server_tokens off;
			client_body_temp_path $dir/client_body;
			proxy_temp_path $dir/proxy;
			fastcgi_temp_path $dir/fastcgi;
			uwsgi_temp_path $dir/uwsgi;
			scgi_temp_path $dir/scgi;
			include $dir/nixbucket.conf;
		}
	EOF
	nginx -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 ||
		die "nginx -t refuses $dir/nixbucket.conf: $(cat "$dir/stdout.log" "$dir/error.log" 2>/dev/null)"
	nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
	node_pid=$!
	pids+=("$node_pid")
	wait_port "$port" "$node_pid" 15
}
port_n1=$(new_port)
port_n2=$(new_port)
log "starting nginx: :$port_n1 in front of A, :$port_n2 in front of A and B"
start_nginx nginx1 "$port_n1" "$port_a"
pid_n1=$node_pid
start_nginx nginx2 "$port_n2" "$port_a" "$port_b"
pid_n2=$node_pid

# --- measuring -------------------------------------------------------------------
# Targets: a base URL, the Authorization to send, the nixbucket processes
# that serve it and the nginx in front, and a label.
declare -A t_url t_auth t_nb t_ng t_label
target() { t_url[$1]=$2 t_auth[$1]=$3 t_nb[$1]=$4 t_ng[$1]=$5 t_label[$1]=$6; }
target e "http://127.0.0.1:$port_e" "$basic_e" "$pid_e" '' "embedded"
target a "http://127.0.0.1:$port_a" "$basic_a" "$pid_a" '' "PostgreSQL + S3"
target r "http://127.0.0.1:$port_r" "$basic_a" "$pid_r" '' "PostgreSQL + S3, --redirect-reads"
target c "http://127.0.0.1:$port_c" "$basic_a" "$pid_c" '' "PostgreSQL + S3, blob cache warm"
target s "$store" '' '' '' "versitygw, presigned GET"
target n1 "http://127.0.0.1:$port_n1" "$basic_a" "$pid_a" "$pid_n1" "nginx → A"
target n2 "http://127.0.0.1:$port_n2" "$basic_a" "$pid_a $pid_b" "$pid_n2" "nginx → A, B"

# cpu_ticks PID... prints the CPU time in clock ticks of each PID, of its
# live children, and of the children it has reaped (cutime+cstime): the
# backends PostgreSQL forked and that exited count too.
cpu_ticks() {
	local total=0 root p f
	for root in "$@"; do
		for p in "$root" $(pgrep -P "$root"); do
			f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
			if [ "$p" = "$root" ]; then
				total=$((total + $(echo "$f" | awk '{print $12 + $13 + $14 + $15}')))
			else
				total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
			fi
		done
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)
# The nodes' liveness pings (meta/postgres gen.go's pinger: SELECT
# pg_notify($1, ''), every 500 ms per node, whatever the requests) are not
# the requests' statements: left out here, listed in the statements table.
pg_calls() { pgq "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = $nbdb AND query <> 'SELECT pg_notify(\$1, '''')'"; }

# status URL AUTH prints the HTTP status of a GET (no redirect followed).
status() {
	local h=()
	if [ -n "$2" ]; then h=(-H "Authorization: $2"); fi
	curl -s -o /dev/null -w '%{http_code}' "${h[@]}" "$1"
}

# drive DRIVER TARGET LIST CONNS SECONDS runs the load and prints its
# RESULT line: wrk with paths.lua, or scaletool get (follows redirects) on
# the first path of LIST.
drive() {
	local drv=$1 t=$2 list=$3 c=$4 secs=$5 cmd
	case "$drv" in
	wrk) cmd=(wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s -s "$lua" "${t_url[$t]}" -- "$list" "${t_auth[$t]}") ;;
	get) cmd=("$tmp/scaletool" get -c "$c" -d "${secs}s" -size "$nar_size" -auth "${t_auth[$t]}" "${t_url[$t]}$(head -1 "$list")") ;;
	esac
	# The client's own CPU time follows, as a line "CLIENTCPU user sys".
	/usr/bin/time -f 'CLIENTCPU %U %S' -o "$tmp/clientcpu" "${cmd[@]}"
	grep '^CLIENTCPU' "$tmp/clientcpu"
}

# run_one DRIVER TARGET LIST CONNS prints "req/s MB/s non2xx errors
# nixbucket_us nginx_us postgres_us versitygw_us statements" per request,
# then "requests redirects client_us" of the run (client_us: the load
# generator's CPU per request).
run_one() {
	local drv=$1 t=$2 list=$3 c=$4 out calls0 calls1 nb0 nb1 ng0 ng1 pg0 pg1 s0 s1
	calls0=$(pg_calls)
	nb0=$(cpu_ticks ${t_nb[$t]}) ng0=$(cpu_ticks ${t_ng[$t]}) pg0=$(cpu_ticks "$pg_pid") s0=$(cpu_ticks "$vgw_pid")
	out=$(drive "$drv" "$t" "$list" "$c" "$duration") || die "$drv on $t failed: $out"
	nb1=$(cpu_ticks ${t_nb[$t]}) ng1=$(cpu_ticks ${t_ng[$t]}) pg1=$(cpu_ticks "$pg_pid") s1=$(cpu_ticks "$vgw_pid")
	calls1=$(pg_calls)
	echo "$out" | awk -v nb=$((nb1 - nb0)) -v ng=$((ng1 - ng0)) -v pg=$((pg1 - pg0)) -v s3=$((s1 - s0)) \
		-v calls=$((calls1 - calls0)) -v hz="$hz" '
		/^REDIRECTS/ { redirects = $2 }
		/^CLIENTCPU/ { client = $2 + $3 }
		/^RESULT/ { secs = $4 / 1e6; n = $2 ? $2 : 1; us = 1e6 / hz / n
			line = sprintf("%.1f %.2f %d %d %.1f %.1f %.1f %.1f %.3f %d", $2 / secs, $3 / secs / 1e6, $5, $6 + $7 + $8 + $9,
				nb * us, ng * us, pg * us, s3 * us, calls / n, $2) }
		END { split(line, f, " "); n = f[10] ? f[10] : 1; printf "%s %d %.1f\n", line, redirects, client * 1e6 / n }'
}

# check_run KIND RESULT WHAT: hits and NARs all 2xx (3xx included: wrk does
# not count them), misses never, redirected GETs each one redirect, and no
# socket errors.
check_run() {
	local non2xx errors requests redirects
	read -r _ _ non2xx errors _ _ _ _ _ requests redirects _ <<<"$2"
	[ "$errors" = 0 ] || die "$3: $errors errors"
	[ "$requests" -gt 0 ] || die "$3: no request answered"
	case "$1" in
	miss | umiss) [ "$non2xx" != 0 ] || die "$3: misses answered 2xx" ;;
	redir) [ "$non2xx" = 0 ] && [ "$redirects" = "$requests" ] || die "$3: $non2xx non-2xx, $redirects redirects for $requests GETs" ;;
	*) [ "$non2xx" = 0 ] || die "$3: $non2xx non-2xx answers" ;;
	esac
}

mkdir -p "$tmp/runs"
declare -A row_status # the status every target answered, by row
# measure ROW KIND DRIVER LIST CONNS WANT_STATUS TARGET... runs ROUNDS
# rounds of one run per target, each round starting with the next target,
# after a 1 s warm-up of each (connections, page cache, Go's heap). The
# runs go to $tmp/runs/ROW.TARGET. WANT_STATUS is a glob ("4??": a miss
# is a 404, or a 403 to an anonymous client without s3:ListBucket), and
# every target must answer the first request of LIST alike.
measure() {
	local row=$1 kind=$2 drv=$3 list=$4 c=$5 want=$6
	shift 6
	local targets=("$@") n=$# r k t res sample got last
	case "$list" in
	unique:*) sample=$(tail -1 "$tmp/misses.txt") ;;
	*) sample=$(head -1 "$list") ;;
	esac
	local first=''
	for t in "${targets[@]}"; do
		got=$(status "${t_url[$t]}$sample" "${t_auth[$t]}")
		# shellcheck disable=SC2053 # $want is a glob
		[[ "$got" == $want ]] || die "$row: ${t_label[$t]} answers $got to $sample, want $want"
		[ -z "$first" ] || [ "$got" = "$first" ] || die "$row: ${t_label[$t]} answers $got to $sample, ${t_label[${targets[0]}]} $first"
		first=$got
		drive "$drv" "$t" "$list" "$c" 1 >/dev/null
	done
	row_status[$row]=$first
	log "$row: ${targets[*]} answer $first"
	for r in $(seq "$rounds"); do
		for k in $(seq 0 $((n - 1))); do
			t=${targets[$(((k + r - 1) % n))]}
			last=''
			if [ "$row.$t" = "$breakdown" ] && [ "$r" = "$rounds" ]; then last=1; fi
			if [ -n "$last" ]; then pgq "SELECT pg_stat_statements_reset()" >/dev/null; fi
			res=$(run_one "$drv" "$t" "$list" "$c")
			check_run "$kind" "$res" "$row ${t_label[$t]}"
			echo "$res" >>"$tmp/runs/$row.$t"
			log "  $row round $r ${t_label[$t]}: $res"
			if [ -n "$last" ]; then save_statements "$res"; fi
		done
	done
}

# breakdown is the row and target whose last run's statements the report
# lists one by one: narinfo hits through nginx to A and B.
breakdown=hit-n.n2
# save_statements RESULT keeps the statements of that run, per request.
save_statements() {
	local reqs
	reqs=$(awk '{ print $10 }' <<<"$1")
	pgq "SELECT calls, regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements
		WHERE dbid = $nbdb ORDER BY calls DESC LIMIT 8" |
		awk -F'|' -v n="$reqs" '{ q = $2; for (i = 3; i <= NF; i++) q = q "\\|" $i
			printf "| %d | %.3f | `%s` |\n", $1, n ? $1 / n : 0, q }' >"$tmp/statements.md"
}

# med ROW TARGET COLUMN prints the median of a column of the runs.
med() { awk -v c="$3" '{ print $c }' "$tmp/runs/$1.$2" | median; }
# runs ROW TARGET COLUMN prints every run's value, comma-separated.
runs() { awk -v c="$3" '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $c }' "$tmp/runs/$1.$2"; }
# ratio A B TARGET prints **A/B** (≥ TARGET ✓ or ✗).
ratio() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { r = b > 0 ? a / b : 0
		printf "**%.2f** (≥ %s %s)", r, t, (r >= t ? "✓" : "✗") }'
}

start_s=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_watchdog "$limit"

if [ -z "$only" ]; then
	log "one node: embedded against PostgreSQL + S3"
	measure hit hit wrk "$tmp/hits.txt" "$conns" 200 e a
	measure miss miss wrk "$tmp/misses.txt" "$conns" '4??' e a
	measure umiss umiss wrk unique:/nix-cache/ "$conns" '4??' e a
fi
log "NAR GET: E, A streaming, C from its blob cache, straight from the store"
c_misses0=$(metric "$port_c" nixbucket_blob_cache_misses_total)
measure nar nar wrk "$tmp/nar.txt" "$nar_conns" 200 e a c
measure nar-s nar wrk "$tmp/direct.txt" "$nar_conns" 200 s
c_hits=$(metric "$port_c" nixbucket_blob_cache_hits_total)
[ "$(metric "$port_c" nixbucket_blob_cache_misses_total)" = "$c_misses0" ] || die "C's blob cache missed during the NAR runs"
log "NAR GET with --redirect-reads: scaletool follows the 307"
measure redir redir get "$tmp/nar.txt" "$nar_conns" 307 r
measure redir-s nar get "$tmp/direct.txt" "$nar_conns" 200 s
measure r307 nar wrk "$tmp/nar.txt" "$nar_conns" 307 r
if [ -z "$only" ]; then
	log "two nodes behind nginx against one node"
	measure hit-n hit wrk "$tmp/hits.txt" "$conns" 200 a n1 n2
	measure miss-n miss wrk "$tmp/misses.txt" "$conns" '4??' a n1 n2

	log "PUT through A against PUT straight to the store (s3bench)"
	put_out=$(timeout --kill-after=10 300 "$tmp/s3bench" \
		-a-name "nixbucket (PostgreSQL + S3)" -a-endpoint "http://127.0.0.1:$port_a" -a-credentials "$tmp/a/credentials" -a-pid "$pid_a" \
		-b-name versitygw -b-endpoint "$store" -b-access "$vgw_ak" -b-secret "$vgw_sk" -b-pid "$vgw_pid" \
		-a-cpu "nixbucket=$pid_a,versitygw=$vgw_pid" -b-cpu "versitygw=$vgw_pid" \
		-ops put -sizes 1MiB,64MiB -concurrency "$put_conc" -rounds "$rounds" -duration "$put_duration") ||
		die "s3bench failed: $put_out"
fi

kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------------
echo "## Scale-out: PostgreSQL + S3 against embedded, one node and two behind nginx"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), measuring took $(($(date +%s) - start_s)) s"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(df -T "$tmp" | awk 'NR==2 {print $2}') under $parent"
echo "- $(go version | cut -d' ' -f3-), PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') ($([ "$pg_durable" = 1 ] && echo "fsync and synchronous_commit on" || echo "fsync, synchronous_commit and full_page_writes off")), versitygw $(go version -m "$vgw" | awk '$1 == "mod" && $2 == "github.com/versity/versitygw" {print $3}'), $(nginx -v 2>&1 | cut -d' ' -f3), wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2), $(nix --version)"
echo "- command: \`bench/scale.sh\` (BENCH_ONLY=$only BENCH_DURATION=$duration BENCH_ROUNDS=$rounds BENCH_THREADS=$threads BENCH_CONNS=$conns BENCH_NAR_CONNS=$nar_conns BENCH_PATHS=$npaths BENCH_KIB=$kib BENCH_NAR_MIB=$nar_mib BENCH_PUT_CONC=$put_conc BENCH_AUTH=$auth_mode BENCH_PG_DURABLE=$pg_durable)"
echo "- load average: $load_start at start, $load_end at end"
echo "- requests: $auth_mode$([ "$auth_mode" = basic ] && echo " (HTTP Basic, the admin key; nix-cache private)" || echo " (nix-cache has the anonymous-read policy)"); NAR: $nar_size B (compression=none); every node, PostgreSQL, versitygw, nginx and the clients share the machine"
echo "- CPU µs/req: utime+stime per request from /proc/PID/stat (PostgreSQL: the postmaster and all its backends); statements/req: pg_stat_statements calls in nixbucket's database per request, exact (BEGIN and COMMIT count; background work of the nodes in the same seconds too, but for their liveness pings, \`SELECT pg_notify(\$1, '')\` every 500 ms per node); pgx sends each statement in a round trip of its own, so these are the round trips to PostgreSQL too, but for the batched statements of an object PUT (one or two round trips each), a connection's first preparation of a statement and pgxpool's health checks of connections idle over a second"
echo
if [ -z "$only" ]; then
echo "### One node: embedded (SQLite + local blobs) against PostgreSQL + S3"
echo
echo "| request | conns | embedded req/s (runs) | PostgreSQL + S3 req/s (runs) | PG+S3/embedded (target) | nixbucket CPU µs/req embedded / PG+S3 | PostgreSQL CPU µs/req | PG statements/req |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for row in hit miss umiss; do
	case "$row" in
	hit) label="narinfo GET hit ($npaths keys)" tgt=0.7 ;;
	miss) label="narinfo GET miss, repeated (1,000 keys; ${row_status[miss]})" tgt=0.7 ;;
	umiss) label="narinfo GET miss, unique keys (${row_status[umiss]})" tgt=0.7 ;;
	esac
	printf '| %s | %s | %.0f (%s) | %.0f (%s) | %s | %.0f / %.0f | %.0f | %.2f |\n' "$label" "$conns" \
		"$(med $row e 1)" "$(runs $row e 1)" "$(med $row a 1)" "$(runs $row a 1)" \
		"$(ratio "$(med $row a 1)" "$(med $row e 1)" "$tgt")" \
		"$(med $row e 5)" "$(med $row a 5)" "$(med $row a 7)" "$(med $row a 9)"
done
echo
echo "Targets: hits ≥ 0.7× embedded (the issue's); the miss rows carry the same bar for comparison."
echo
fi
echo "### NAR GET ($((nar_size / 1000000)) MB), $nar_conns connections"
echo
echo "| client | from | MB/s median (runs) | / the store's own (target) | nixbucket CPU µs/req | versitygw CPU µs/req | client CPU µs/req | PG statements/req |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
s_wrk=$(med nar-s s 2)
s_get=$(med redir-s s 2)
printf '| wrk | embedded (local blobs) | %.0f (%s) | %.2f | %.0f | – | %.0f | – |\n' "$(med nar e 2)" "$(runs nar e 2)" \
	"$(awk -v a="$(med nar e 2)" -v b="$s_wrk" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$(med nar e 5)" "$(med nar e 12)"
printf '| wrk | PostgreSQL + S3, streamed through the node (blob cache off) | %.0f (%s) | %s | %.0f | %.0f | %.0f | %.2f |\n' "$(med nar a 2)" "$(runs nar a 2)" \
	"$(ratio "$(med nar a 2)" "$s_wrk" 0.8)" "$(med nar a 5)" "$(med nar a 8)" "$(med nar a 12)" "$(med nar a 9)"
printf '| wrk | PostgreSQL + S3, through the node, blob cache warm | %.0f (%s) | %s | %.0f | %.0f | %.0f | %.2f |\n' "$(med nar c 2)" "$(runs nar c 2)" \
	"$(ratio "$(med nar c 2)" "$s_wrk" 0.8)" "$(med nar c 5)" "$(med nar c 8)" "$(med nar c 12)" "$(med nar c 9)"
printf '| wrk | versitygw, presigned GET | %.0f (%s) | 1 | – | %.0f | %.0f | – |\n' "$s_wrk" "$(runs nar-s s 2)" "$(med nar-s s 8)" "$(med nar-s s 12)"
printf '| scaletool (follows redirects) | PostgreSQL + S3, --redirect-reads: 307, then the store | %.0f (%s) | %s | %.0f | %.0f | %.0f | %.2f |\n' \
	"$(med redir r 2)" "$(runs redir r 2)" "$(ratio "$(med redir r 2)" "$s_get" 0.8)" "$(med redir r 5)" "$(med redir r 8)" "$(med redir r 12)" "$(med redir r 9)"
printf '| scaletool (follows redirects) | versitygw, presigned GET | %.0f (%s) | 1 | – | %.0f | %.0f | – |\n' "$s_get" "$(runs redir-s s 2)" "$(med redir-s s 8)" "$(med redir-s s 12)"
echo
printf 'wrk on the --redirect-reads node alone (307 answers, not followed): %.0f req/s (%s), nixbucket CPU %.0f µs/req, %.2f PG statements/req.\n' \
	"$(med r307 r 1)" "$(runs r307 r 1)" "$(med r307 r 5)" "$(med r307 r 9)"
echo "The NAR row's target is ≥ 0.8× the store's own GET at the same concurrency, with the same client."
echo "The blob-cache row's node (C) answered every GET of its runs from its local copy: $c_hits blob cache hits, no miss after the one GET that filled it."
echo
if [ -z "$only" ]; then
echo "### PUT: through nixbucket on PostgreSQL + S3 against straight to the store (bench/s3bench)"
echo
echo "Target: ≥ 0.8× versitygw's own PUT."
sed 's/^### /#### /' <<<"$put_out"
echo
echo "### Two nodes behind nginx against one node (narinfo GETs, $conns connections)"
echo
echo "nginx runs contrib/nginx/nixbucket.conf (round robin, keepalive to the nodes), 2 workers."
echo
echo "| request | served by | req/s median (runs) | nixbucket CPU µs/req | nginx CPU µs/req | PostgreSQL CPU µs/req | PG statements/req (target) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for row in hit-n miss-n; do
	case "$row" in
	hit-n) label="narinfo GET hit ($npaths keys)" ;;
	miss-n) label="narinfo GET miss, repeated (${row_status[miss-n]})" ;;
	esac
	for t in a n1 n2; do
		st=$(med $row $t 9)
		if [ "$row" = hit-n ]; then
			verdict=$(awk -v s="$st" 'BEGIN { print (s == 0 ? "(0 ✓)" : "(0 ✗)") }')
		else
			verdict=''
		fi
		served=${t_label[$t]}
		if [ "$t" = a ]; then served="A alone, no proxy"; fi
		printf '| %s | %s | %.0f (%s) | %.0f | %s | %.0f | %.2f %s |\n' "$label" "$served" \
			"$(med $row $t 1)" "$(runs $row $t 1)" "$(med $row $t 5)" \
			"$([ "$t" = a ] && echo – || printf '%.0f' "$(med $row $t 6)")" "$(med $row $t 7)" "$st" "$verdict"
	done
done
if [ -s "$tmp/statements.md" ]; then
	echo
	echo "PostgreSQL statements during one narinfo-hit run through nginx to A and B (pg_stat_statements, nixbucket's database):"
	echo
	echo "| calls | per request | statement |"
	echo "|---:|---:|---|"
	cat "$tmp/statements.md"
fi
fi
for n in e a b r c; do
	if grep -qiE 'level=(ERROR|WARN)|panic' "$tmp/$n.log"; then
		log "nixbucket $n logged errors (first 20 lines):"
		grep -iE 'level=(ERROR|WARN)|panic' "$tmp/$n.log" | head -20 >&2
	fi
done
