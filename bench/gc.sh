#!/usr/bin/env bash
# gc.sh measures nixbucket's garbage collector on a synthetic cache of a
# million paths, built straight into the metadata store (bench/gcbench, not
# through HTTP): 1,000,000 paths of 10 references each, 50 roots of
# 20,000-path closures (19,960 of their own over 2,000 shared paths),
# 5 closures (10 % of the paths) stale, keep-days=30.
#
# It times `nixbucket gc --dry-run` (the plan: index scan, object scan,
# marking) and then `nixbucket gc` (plan and deletes), each with
# /usr/bin/time -v for the wall time and the peak RSS. Targets: a full
# GC under 60 s, peak RSS under 300 MiB.
#
# Then, on a copy of the cache made before the GC, it serves the bucket
# (anonymous reads) and measures narinfo hits with wrk (bench/nix/paths.lua,
# 10,000 kept paths) for BENCH_DURATION seconds, then again while
# `nixbucket gc` runs beside the server (target: at least 0.8 of the rate
# without GC). A markdown section goes to stdout, progress to stderr.
#
# It times `nixbucket verify` on the collected cache (target < 120 s), and,
# on the served copy before its GC, narinfo lookups (hits, repeated and
# unique misses, with bench/nix.sh's wrk driver bench/nix/paths.lua) on the
# bucket of a million paths against a bucket of 1,000 paths in the same
# server, alternating (target: at least 0.95 of the small bucket's rate).
#
# Usage: bench/gc.sh
#
# Environment:
#   BENCH_DIR     parent of the temporary directory (default /tmp)
#   BENCH_CACHE   a data directory gcbench built before with the same shape,
#                 copied instead of building one
#   BENCH_DURATION  seconds of the wrk run without GC (default 10); the run
#                 during GC lasts as long as the dry run took (it ends
#                 before the GC does)
#   BENCH_CONNS   wrk connections (default 32), BENCH_THREADS (default 2)
#   BENCH_ROOTS   closures (default 50); BENCH_UNIQUE paths of each (19960);
#                 BENCH_SHARED shared paths (2000); BENCH_STALE stale closures (5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
duration=${BENCH_DURATION:-10}
conns=${BENCH_CONNS:-32}
threads=${BENCH_THREADS:-2}
roots=${BENCH_ROOTS:-50}
unique=${BENCH_UNIQUE:-19960}
shared=${BENCH_SHARED:-2000}
stale=${BENCH_STALE:-5}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/nixbucket-gc.XXXXXX")
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

echo "gc.sh: building nixbucket and gcbench" >&2
(cd "$here/.." && go build -o "$work/nixbucket" ./cmd/nixbucket && go build -o "$work/gcbench" ./bench/gcbench)

start=$(date +%s.%N)
if [ -n "${BENCH_CACHE:-}" ]; then
	# A cache gcbench built before with the same shape (it takes minutes).
	echo "gc.sh: copying the synthetic cache $BENCH_CACHE" >&2
	cp -a "$BENCH_CACHE" "$work/data"
	built="(copied from $BENCH_CACHE; building takes about 280)"
else
	echo "gc.sh: building the synthetic cache" >&2
	"$work/gcbench" -data "$work/data" -roots "$roots" -unique "$unique" -shared "$shared" -stale "$stale"
	built=$(echo "$(date +%s.%N) - $start" | bc)
fi
"$work/gcbench" -data "$work/data" -roots "$roots" -unique "$unique" -shared "$shared" -stale "$stale" -hits "$work/hits.txt"
echo "gc.sh: copying the cache for the run beside the server" >&2
cp -a "$work/data" "$work/served"
# A bucket of 1,000 paths beside the million, for the lookups at scale.
small="-bucket small -roots 1 -unique 900 -shared 100 -stale 0 -width 100"
"$work/gcbench" -data "$work/served" $small
"$work/gcbench" -data "$work/served" $small -hits "$work/small-hits.txt"
awk 'NR % 10 == 1 && ++n <= 900' "$work/hits.txt" >"$work/big-hits.txt"
for b in cache small; do
	od -An -v -tu1 -N32000 /dev/urandom | tr -s ' ' '\n' | grep . |
		awk -v b="$b" 'BEGIN { a = "0123456789abcdfghijklmnpqrsvwxyz" }
		{ s = s substr(a, $1 % 32 + 1, 1) } length(s) == 32 { print "/" b "/" s ".narinfo"; s = "" }' >"$work/$b-misses.txt"
done

# measure NAME ARGS...: runs nixbucket under /usr/bin/time -v; prints its
# stdout to stderr and sets wall (seconds) and rss (MiB).
measure() {
	local name=$1
	shift
	/usr/bin/time -v -o "$work/$name.time" "$work/nixbucket" "$@" >"$work/$name.out"
	cat "$work/$name.out" >&2
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$work/$name.time")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$work/$name.time")
}

cp -a "$work/data" "$work/inserver" # for the server's own scheduled GC
echo "gc.sh: gc --dry-run" >&2
measure dry gc cache --dry-run --data "$work/data"
dry_wall=$wall dry_rss=$rss
echo "gc.sh: gc" >&2
measure full gc cache --data "$work/data"
full_wall=$wall full_rss=$rss
echo "gc.sh: verify" >&2
measure verify verify cache --data "$work/data"
verify_wall=$wall verify_rss=$rss

# rate SECONDS prints wrk's narinfo GETs per second against the server.
rate() {
	wrk -t"$threads" -c"$conns" -d"$1s" --timeout 10s -s "$here/nix/paths.lua" "http://127.0.0.1:$port" -- "$work/hits.txt" "" |
		awk '/^RESULT/ { if ($5 + $6 + $7 + $8 + $9) { print "errors: " $0 > "/dev/stderr"; exit 1 }; printf "%.0f\n", $2 / ($4 / 1e6) }'
}
echo "gc.sh: narinfo hits with and without a GC beside the server" >&2
for b in cache small; do
	"$work/nixbucket" bucket policy set "$b" anonymous-read --data "$work/served"
done
port=$(free_port)
"$work/nixbucket" serve --listen "127.0.0.1:$port" --data "$work/served" --gc-interval 0 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do
	curl -fso /dev/null "http://127.0.0.1:$port/-/health" && break
	sleep 0.1
done
rate 2 >/dev/null # warm up
base=$(rate "$duration")
# Each list answers as it should: hits 200, misses 404 (or 403: the
# anonymous-read policy grants no s3:ListBucket, so S3 says AccessDenied).
for f in big-hits small-hits cache-misses small-misses; do
	want=200
	case $f in *misses) want=40[34] ;; esac
	got=$(curl -so /dev/null -w '%{http_code}' "http://127.0.0.1:$port$(head -1 "$work/$f.txt")")
	case $got in $want) ;; *) echo "gc.sh: $f answers $got, want $want" >&2; exit 1 ;; esac
done

# Lookups at scale: narinfo hits, repeated misses (1,000 absent hashes in
# turn) and unique misses (each hash never asked before) on the bucket of
# a million paths and on the one of 1,000, alternating which goes first,
# each row the median of BENCH_ROUNDS runs.
# lookup LIST: GET/s of wrk over LIST (a file, or unique:PREFIX).
# Hits must all be 2xx, misses never.
lookup() {
	wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s -s "$here/nix/paths.lua" "http://127.0.0.1:$port" -- "$1" "" |
		awk -v hits="$2" '/^RESULT/ {
			if ($6 + $7 + $8 + $9 || (hits && $5) || (!hits && $5 != $2)) { print "errors: " $0 > "/dev/stderr"; exit 1 }
			printf "%.0f\n", $2 / ($4 / 1e6) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rounds=${BENCH_ROUNDS:-3}
# Warm each list up first: a bucket's first misses build its filter of
# absent keys in the background (a scan of every key: seconds for a
# million), which would otherwise fall into whichever round came first.
for l in big-hits.txt small-hits.txt cache-misses.txt small-misses.txt; do
	lookup "$work/$l" "$([ "${l%hits.txt}" != "$l" ] && echo 1 || echo 0)" >/dev/null
done
lookup unique:/cache/ 0 >/dev/null
lookup unique:/small/ 0 >/dev/null
lookup_rows=
for kind in hits misses unique; do
	big=() little=()
	for r in $(seq "$rounds"); do
		case $kind in
		hits) lb=$work/big-hits.txt ls=$work/small-hits.txt ;;
		misses) lb=$work/cache-misses.txt ls=$work/small-misses.txt ;;
		unique) lb=unique:/cache/ ls=unique:/small/ ;;
		esac
		h=0
		[ "$kind" = hits ] && h=1
		if [ $((r % 2)) = 1 ]; then
			big+=("$(lookup "$lb" $h)") little+=("$(lookup "$ls" $h)")
		else
			little+=("$(lookup "$ls" $h)") big+=("$(lookup "$lb" $h)")
		fi
	done
	b=$(printf '%s\n' "${big[@]}" | median) l=$(printf '%s\n' "${little[@]}" | median)
	echo "gc.sh: $kind: 1M $b/s, 1k $l/s" >&2
	lookup_rows+="| $kind | $b | $l | $(echo "scale=2; $b / $l" | bc) |"$'\n'
done
# During the GC: windows of 5 s until it ends (the last window, which
# outlives it, is left out unless it is the only one).
/usr/bin/time -v -o "$work/served.time" "$work/nixbucket" gc cache --data "$work/served" >"$work/served-gc.out" 2>&1 &
gcpid=$!
windows=()
while kill -0 "$gcpid" 2>/dev/null; do
	r=$(rate 5)
	if kill -0 "$gcpid" 2>/dev/null || [ ${#windows[@]} = 0 ]; then
		windows+=("$r")
	fi
done
wait "$gcpid"
served_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$work/served.time")
during=$(printf '%s\n' "${windows[@]}" | awk '{ s += $1 } END { printf "%.0f", s / NR }')
worst=$(printf '%s\n' "${windows[@]}" | sort -n | head -1)
ratio=$(echo "scale=2; $during / $base" | bc)
worst_ratio=$(echo "scale=2; $worst / $base" | bc)
after=$(rate "$duration")
kill "$server"
wait "$server" 2>/dev/null || true
server=

# The server's own scheduled GC (serve --gc-interval; the bucket has
# gc=on): hits before it starts, then in windows of 5 s until the server
# logs the run's figures.
echo "gc.sh: narinfo hits while the server runs its own GC" >&2
"$work/nixbucket" bucket policy set cache anonymous-read --data "$work/inserver"
port=$(free_port)
"$work/nixbucket" serve --listen "127.0.0.1:$port" --data "$work/inserver" --gc-interval 20s 2>"$work/inserver.log" &
server=$!
started=$(date +%s)
for _ in $(seq 100); do
	curl -fso /dev/null "http://127.0.0.1:$port/-/health" && break
	sleep 0.1
done
rate 2 >/dev/null
in_base=$(rate "$duration")
while [ $(($(date +%s) - started)) -lt 20 ]; do sleep 0.2; done
in_windows=()
while ! grep -q 'msg=gc ' "$work/inserver.log"; do
	r=$(rate 5)
	if ! grep -q 'msg=gc ' "$work/inserver.log" || [ ${#in_windows[@]} = 0 ]; then
		in_windows+=("$r")
	fi
done
in_took=$(grep -o 'took=[^ ]*' "$work/inserver.log" | head -1 | cut -d= -f2)
in_during=$(printf '%s\n' "${in_windows[@]}" | awk '{ s += $1 } END { printf "%.0f", s / NR }')
in_worst=$(printf '%s\n' "${in_windows[@]}" | sort -n | head -1)
in_ratio=$(echo "scale=2; $in_during / $in_base" | bc)
in_worst_ratio=$(echo "scale=2; $in_worst / $in_base" | bc)

cat <<MD
## GC: a million paths (bench/gc.sh)

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)
- $(go version)
- command: bench/gc.sh (roots $roots, unique $unique, shared $shared, stale $stale)
- load average at start of the GC runs: $(cut -d' ' -f1-3 /proc/loadavg)
- synthetic cache: ${built%.*} s to build (gcbench, through the metadata store's PutObject)

| run | wall s | peak RSS MiB | target |
|---|---:|---:|---|
| gc --dry-run (plan only) | $dry_wall | $dry_rss | |
| gc (plan and deletes) | $full_wall | $full_rss | < 60 s, < 300 MiB |
| verify (after the GC: every narinfo, NAR, reference and signature; blobs re-hashed) | $verify_wall | $verify_rss | < 120 s |

| narinfo lookups (wrk -c$conns, median of $rounds runs of ${duration} s) | bucket of 1 M paths, GET/s | bucket of 1 k paths, GET/s | ratio (target ≥ 0.95) |
|---|---:|---:|---:|
$lookup_rows

| narinfo hits (wrk -c$conns, 10,000 kept paths) | GET/s | |
|---|---:|---|
| without GC (${duration} s) | $base | |
| while \`nixbucket gc\` runs beside the server (${#windows[@]} windows of 5 s; the GC took $served_wall s) | $during (mean), $worst (worst window) | $ratio (worst $worst_ratio) of the rate without (target ≥ 0.8) |
| after the GC (${duration} s) | $after | |
| without GC, another server on another copy (${duration} s) | $in_base | |
| while that server runs its own scheduled GC (${#in_windows[@]} windows of 5 s; the GC took $in_took) | $in_during (mean), $in_worst (worst window) | $in_ratio (worst $in_worst_ratio) of the rate without (target ≥ 0.8) |

\`nixbucket gc\` printed:

\`\`\`
$(cat "$work/full.out")
\`\`\`
MD
