#!/usr/bin/env bash
# nix.sh benchmarks nixbucket's binary-cache protocol against nginx serving the
# same cache as static files, on loopback, driven by wrk at the same concurrency.
#
# It builds a closure and one path with a ~70 MB NAR (shared/corpus/make-closure.sh),
# pushes both with `nix copy` to nixbucket and to a file:// cache that nginx serves,
# then measures, each anonymously (bucket with the anonymous-read policy) and
# again with HTTP Basic credentials (private bucket, the admin key from netrc):
#   - narinfo GET hits (cycling through the closure's narinfos),
#   - narinfo GET misses, repeated (cycling through 1,000 random hashes, as
#     when many clients ask for the same absent paths), and unique (every
#     request a hash never asked before, so no answer can come from memory),
#   - NAR GET throughput on the big NAR (stored with compression=none).
# nginx checks Basic against an apr1 htpasswd (what `htpasswd` and
# `openssl passwd -apr1` write) and, for the narinfo rows, also against an
# {SSHA} one, whose check costs one SHA-1 instead of 1,000 MD5 rounds.
# Each row runs ROUNDS times, alternating which server goes first; the median is
# reported with the ratio nixbucket/nginx. A markdown section goes to stdout,
# progress to stderr. Everything runs in a temporary directory removed at the end.
#
# Usage: bench/nix.sh
#
# Environment:
#   BENCH_DIR        parent of the temporary directory (default /tmp)
#   BENCH_DURATION   seconds per wrk run (default 5)
#   BENCH_ROUNDS     runs per row and server (default 3)
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNS      wrk connections for narinfo rows (default 32)
#   BENCH_NAR_CONNS  wrk connections for the NAR row (default 8)
#   BENCH_PATHS      paths in the closure (default 50)
#   BENCH_KIB        random KiB per closure path (default 64)
#   BENCH_PERF       1 records `perf record -g` on nixbucket during extra runs
#                    (anonymous hits, repeated and unique misses; Basic hits)
#                    and prints the top symbols (default 0)
#   BENCH_TIMEOUT    limit for the measuring part in seconds (default 480;
#                    the defaults take about 350 s, builds and pushes come on top)
#   BENCH_CORPUS     directory of make-closure.sh (default ../shared/corpus)
#   BENCH_ACCESS_LOG on: both servers log every request to a file in the
#                    temporary directory: nginx's access_log (combined format,
#                    buffer=64k flush=1s: batched writes, as nixbucket's) and
#                    nixbucket's --access-log=on (its stderr, nixbucket.log);
#                    off: neither logs requests (default off). The log files
#                    grow by some 150-300 bytes per request.
#
# Needs root (single-user Nix store) and Debian's nix-bin, nginx-light, wrk and
# openssl (plus linux-perf for BENCH_PERF=1).
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
perf_on=${BENCH_PERF:-0}
limit=${BENCH_TIMEOUT:-480}
access_log=${BENCH_ACCESS_LOG:-off}
case $access_log in
on) ng_access_log="access_log @TMP@/access.log combined buffer=64k flush=1s;" ;; # @TMP@: filled in below
off) ng_access_log="access_log off;" ;;
*) echo "nix.sh: BENCH_ACCESS_LOG must be on or off, not $access_log" >&2; exit 1 ;;
esac
lua=$repo/bench/nix/paths.lua

log() { echo "nix.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in nix nix-build nginx wrk openssl curl; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nix-bin nginx-light wrk openssl curl)"
done
[ "$perf_on" = 1 ] && { command -v perf >/dev/null || die "perf is missing (apt-get install -y linux-perf)"; }
[ -x "$corpus/make-closure.sh" ] || die "no $corpus/make-closure.sh"
[ "$(id -u)" = 0 ] || die "needs root (single-user Nix store)"

tmp=$(mktemp -d "$parent/nixbucket-bench-nix.XXXXXX")
# nginx's workers run as nobody: they must reach the static cache and htpasswd.
chmod 755 "$tmp"
nb_pid='' ng_pid='' watchdog=''
cleanup() {
	if [ -n "$watchdog" ]; then kill "$watchdog" 2>/dev/null || true; fi
	stop "$nb_pid"
	stop "$ng_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"

# status URL [AUTHORIZATION] prints the HTTP status of a GET.
status() {
	local h=()
	if [ -n "${2:-}" ]; then h=(-H "Authorization: $2"); fi
	curl -s -o /dev/null -w '%{http_code}' "${h[@]}" "$1"
}

cd "$repo"
log "building nixbucket"
go build -o "$tmp/nixbucket" ./cmd/nixbucket
nb=$tmp/nixbucket

# make-closure.sh's GC-root symlink lands in $tmp (TMPDIR), so it goes with it.
log "building closures ($npaths paths x $kib KiB, and one 64 MiB path)"
top=$(TMPDIR=$tmp "$corpus/make-closure.sh" "$npaths" "$kib" benchnix)
big=$(TMPDIR=$tmp "$corpus/make-closure.sh" 1 65536 bignar)

port_nb=$(free_port)
port_ng=$(free_port)
while [ "$port_ng" = "$port_nb" ]; do port_ng=$(free_port); done
port_apr1=$(free_port)
while [ "$port_apr1" = "$port_nb" ] || [ "$port_apr1" = "$port_ng" ]; do port_apr1=$(free_port); done
port_ssha=$(free_port)
while [ "$port_ssha" = "$port_nb" ] || [ "$port_ssha" = "$port_ng" ] || [ "$port_ssha" = "$port_apr1" ]; do
	port_ssha=$(free_port)
done

log "starting nixbucket on :$port_nb"
mkdir -m 700 "$tmp/data" # the data directory holds credentials: the owner alone
"$nb" serve --listen "127.0.0.1:$port_nb" --data "$tmp/data" --access-log="$access_log" >"$tmp/nixbucket.log" 2>&1 &
nb_pid=$!
wait_port "$port_nb" "$nb_pid"
for _ in $(seq 100); do
	[ -s "$tmp/data/netrc" ] && break
	sleep 0.05
done
[ -s "$tmp/data/netrc" ] || die "nixbucket wrote no netrc"
read -r _ _ _ key_id _ secret < <(head -1 "$tmp/data/netrc")
basic="Basic $(printf '%s:%s' "$key_id" "$secret" | base64 -w0)"

# The same cache twice: through nixbucket, and as files for nginx.
export XDG_CACHE_HOME=$tmp/xdg
log "pushing to nixbucket and to the static cache"
nixc --option netrc-file "$tmp/data/netrc" --to "http://127.0.0.1:$port_nb/nix-cache?compression=zstd" "$top"
nixc --option netrc-file "$tmp/data/netrc" --to "http://127.0.0.1:$port_nb/nix-cache?compression=none" "$big"
static=$tmp/static
nixc --to "file://$static/nix-cache?compression=zstd" "$top"
nixc --to "file://$static/nix-cache?compression=none" "$big"
chmod -R a+rX "$static"

# Request lists: the closure's narinfos, random absent hashes, the big NAR.
big_hash=$(basename "$big" | cut -c1-32)
nar_url=$(awk '/^URL: /{print $2}' "$static/nix-cache/$big_hash.narinfo")
nar_size=$(stat -c %s "$static/nix-cache/$nar_url")
for p in $(nix-store -q --requisites "$top"); do
	echo "/nix-cache/$(basename "$p" | cut -c1-32).narinfo"
done >"$tmp/hits.txt"
od -An -v -tu1 -N32000 /dev/urandom | tr -s ' ' '\n' | grep . |
	awk 'BEGIN { a = "0123456789abcdfghijklmnpqrsvwxyz" }
	{ s = s substr(a, $1 % 32 + 1, 1) } length(s) == 32 { print "/nix-cache/" s ".narinfo"; s = "" }' >"$tmp/misses.txt"
echo "/nix-cache/$nar_url" >"$tmp/nar.txt"
[ "$(wc -l <"$tmp/hits.txt")" = "$npaths" ] || die "expected $npaths narinfos in hits.txt"
[ "$(wc -l <"$tmp/misses.txt")" = 1000 ] || die "expected 1000 misses"

# Both caches hold the same narinfos except for the Sig line nixbucket adds.
log "comparing the two caches"
nb_narinfo_bytes=0 ng_narinfo_bytes=0
while read -r path; do
	curl -sf -H "Authorization: $basic" "http://127.0.0.1:$port_nb$path" >"$tmp/cmp.narinfo" || die "nixbucket lacks $path"
	grep -v '^Sig: ' "$tmp/cmp.narinfo" | cmp -s - "$static$path" || die "$path differs beyond its Sig line"
	nb_narinfo_bytes=$((nb_narinfo_bytes + $(stat -c %s "$tmp/cmp.narinfo")))
	ng_narinfo_bytes=$((ng_narinfo_bytes + $(stat -c %s "$static$path")))
done <"$tmp/hits.txt"
got=$(curl -sf -H "Authorization: $basic" -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port_nb/nix-cache/$nar_url")
[ "$got" = "$nar_size" ] || die "nixbucket serves $got bytes for $nar_url, the file has $nar_size"

log "starting nginx on :$port_ng (anonymous), :$port_apr1 (Basic, apr1) and :$port_ssha (Basic, {SSHA})"
mkdir -p "$tmp/nginx"
# The same user and password as nixbucket's netrc, hashed two ways: apr1
# (htpasswd's and `openssl passwd`'s default, 1,000 MD5 rounds per request)
# and {SSHA} (one salted SHA-1), the cheapest salted hash nginx checks.
printf '%s:%s\n' "$key_id" "$(printf '%s\n' "$secret" | openssl passwd -apr1 -stdin)" >"$tmp/nginx/htpasswd.apr1"
openssl rand -out "$tmp/nginx/salt" 8
printf '%s:{SSHA}%s\n' "$key_id" "$(
	{ printf '%s' "$secret" | cat - "$tmp/nginx/salt" | openssl dgst -sha1 -binary; cat "$tmp/nginx/salt"; } | base64 -w0
)" >"$tmp/nginx/htpasswd.ssha"
chmod 644 "$tmp/nginx/htpasswd".*
sed -e "s|@ACCESSLOG@|$ng_access_log|g" \
	-e "s|@TMP@|$tmp/nginx|g" -e "s|@ROOT@|$static|g" -e "s|@PORT@|$port_ng|g" \
	-e "s|@APR1PORT@|$port_apr1|g" -e "s|@SSHAPORT@|$port_ssha|g" \
	"$repo/bench/nix/nginx.conf.in" >"$tmp/nginx/nginx.conf"
nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >"$tmp/nginx/stdout.log" 2>&1 &
ng_pid=$!
wait_port "$port_ng" "$ng_pid"
wait_port "$port_apr1" "$ng_pid"
wait_port "$port_ssha" "$ng_pid"

# cpu_ticks PID prints utime+stime of PID and its children processes (nginx workers).
cpu_ticks() {
	local total=0 p f
	for p in "$1" $(pgrep -P "$1"); do
		f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
		total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)

# run_wrk SERVER_PID BASE_URL CONNS LIST AUTH prints "req/s MB/s non2xx errors cpu_us_per_req".
run_wrk() {
	local pid=$1 url=$2 c=$3 list=$4 auth=$5 out before after
	before=$(cpu_ticks "$pid")
	out=$(wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 10s -s "$lua" "$url" -- "$list" "$auth") ||
		die "wrk failed: $out"
	after=$(cpu_ticks "$pid")
	echo "$out" | awk -v cpu=$((after - before)) -v hz="$hz" '/^RESULT/ {
		secs = $4 / 1e6
		printf "%.1f %.2f %d %d %.1f\n", $2 / secs, $3 / secs / 1e6, $5, $6 + $7 + $8 + $9,
			$2 ? cpu / hz * 1e6 / $2 : 0 }'
}


# check_run KIND REQUESTS_LINE: hits and NARs must all be 2xx, misses never, no socket errors.
check_run() {
	local kind=$1 rps non2xx errors
	read -r rps _ non2xx errors _ <<<"$2"
	[ "$errors" = 0 ] || die "$3: $errors socket errors"
	case "$kind" in
	miss | umiss) [ "$non2xx" != 0 ] || die "$3: misses answered 2xx" ;;
	*) [ "$non2xx" = 0 ] || die "$3: $non2xx non-2xx answers" ;;
	esac
	: "$rps"
}

rows=()
# measure MODE KIND LIST CONNS NGINX_PORT runs one row: MODE is a label
# ("anonymous" sends no credentials, anything else sends Basic).
measure() {
	local mode=$1 kind=$2 list=$3 c=$4 ng_url=http://127.0.0.1:$5 nb_auth=$basic
	local nb_url=http://127.0.0.1:$port_nb r first res
	if [ "$mode" = anonymous ]; then nb_auth=''; fi
	local sample nb_s ng_s
	case "$list" in
	unique:*) sample=$(tail -1 "$tmp/misses.txt") ;;
	*) sample=$(head -1 "$list") ;;
	esac
	nb_s=$(status "$nb_url$sample" "$nb_auth")
	ng_s=$(status "$ng_url$sample" "$nb_auth")
	log "$mode $kind: nixbucket answers $nb_s, nginx $ng_s"
	# Warm-up: connections, page cache, Go's heap.
	wrk -t"$threads" -c"$c" -d1s -s "$lua" "$nb_url" -- "$list" "$nb_auth" >/dev/null
	wrk -t"$threads" -c"$c" -d1s -s "$lua" "$ng_url" -- "$list" "$nb_auth" >/dev/null
	: >"$tmp/nb.runs"
	: >"$tmp/ng.runs"
	for r in $(seq "$rounds"); do
		first=$((r % 2))
		for s in $first $((1 - first)); do
			if [ "$s" = 1 ]; then
				res=$(run_wrk "$nb_pid" "$nb_url" "$c" "$list" "$nb_auth")
				check_run "$kind" "$res" "nixbucket $mode $kind"
				echo "$res" >>"$tmp/nb.runs"
			else
				res=$(run_wrk "$ng_pid" "$ng_url" "$c" "$list" "$nb_auth")
				check_run "$kind" "$res" "nginx $mode $kind"
				echo "$res" >>"$tmp/ng.runs"
			fi
			log "  round $r $([ "$s" = 1 ] && echo nixbucket || echo nginx): $res"
		done
	done
	local col=1 unit=req/s
	if [ "$kind" = nar ]; then col=2 unit=MB/s; fi
	local nb_m ng_m nb_cpu ng_cpu nb_all ng_all
	nb_m=$(awk -v c=$col '{print $c}' "$tmp/nb.runs" | median)
	ng_m=$(awk -v c=$col '{print $c}' "$tmp/ng.runs" | median)
	nb_cpu=$(awk '{print $5}' "$tmp/nb.runs" | median)
	ng_cpu=$(awk '{print $5}' "$tmp/ng.runs" | median)
	nb_all=$(awk -v c=$col '{printf "%s%.0f", (NR > 1 ? ", " : ""), $c}' "$tmp/nb.runs")
	ng_all=$(awk -v c=$col '{printf "%s%.0f", (NR > 1 ? ", " : ""), $c}' "$tmp/ng.runs")
	local label target
	case "$kind" in
	hit) label="narinfo GET hit ($npaths keys)" target=1.0 ;;
	miss) label="narinfo GET miss, repeated (1,000 keys)" target=1.0 ;;
	umiss) label="narinfo GET miss, unique keys" target=1.0 ;;
	nar) label="NAR GET ($((nar_size / 1000000)) MB)" target=0.9 ;;
	esac
	rows+=("$(awk -v label="$label" -v mode="$mode" -v c="$c" -v unit="$unit" -v nb="$nb_m" -v ng="$ng_m" \
		-v nball="$nb_all" -v ngall="$ng_all" -v nbs="$nb_s" -v ngs="$ng_s" -v nbc="$nb_cpu" -v ngc="$ng_cpu" -v t="$target" 'BEGIN {
		ratio = ng > 0 ? nb / ng : 0
		printf "| %s | %s | %d | %s | %.0f (%s) | %.0f (%s) | **%.2f** (≥ %s%s) | %s / %s | %.0f / %.0f |",
			label, mode, c, unit, nb, nball, ng, ngall, ratio, t, (ratio >= t ? " ✓" : " ✗"), nbs, ngs, nbc, ngc }')")
}

bucket_policy() { # bucket_policy set|delete ARGS...
	"$nb" bucket policy "$1" --data "$tmp/data" "${@:2}" >/dev/null 2>"$tmp/policy.err" ||
		{ cat "$tmp/policy.err" >&2; die "bucket policy $* failed"; }
}

profile() { # profile LABEL LIST AUTH: perf on nixbucket during one extra run.
	local label=$1 list=$2 auth=$3 ppid
	log "perf: $label"
	perf record -q -g -F 999 -p "$nb_pid" -o "$tmp/perf.data" -- sleep "$duration" >/dev/null 2>&1 &
	ppid=$!
	wrk -t"$threads" -c"$conns" -d"${duration}s" -s "$lua" "http://127.0.0.1:$port_nb" -- "$list" "$auth" >/dev/null
	wait "$ppid" || true
	echo
	echo "#### perf: nixbucket, $label (top 15 symbols, self / children)"
	echo
	echo '```'
	perf report -i "$tmp/perf.data" --no-children --stdio --sort symbol 2>/dev/null |
		awk '/^ +[0-9.]+%/ { printf "%8s  %s %s\n", $1, $2, $3 }' | head -15
	echo '```'
	echo
	echo '```'
	perf report -i "$tmp/perf.data" --children --stdio --sort symbol -g none 2>/dev/null |
		awk '/^ +[0-9.]+%/ { printf "%8s %8s  %s %s\n", $1, $2, $3, $4 }' | head -25
	echo '```'
}

start_s=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_watchdog "$limit"

log "anonymous rows (bucket policy: anonymous-read)"
bucket_policy set nix-cache anonymous-read
[ "$(status "http://127.0.0.1:$port_nb$(head -1 "$tmp/hits.txt")")" = 200 ] || die "nix-cache is not public"
measure anonymous hit "$tmp/hits.txt" "$conns" "$port_ng"
measure anonymous miss "$tmp/misses.txt" "$conns" "$port_ng"
measure anonymous umiss unique:/nix-cache/ "$conns" "$port_ng"
measure anonymous nar "$tmp/nar.txt" "$nar_conns" "$port_ng"
perf_out=''
if [ "$perf_on" = 1 ]; then
	perf_out+=$(profile "anonymous narinfo hits, wrk -c$conns" "$tmp/hits.txt" "")
	perf_out+=$(profile "anonymous narinfo misses (repeated), wrk -c$conns" "$tmp/misses.txt" "")
	perf_out+=$(profile "anonymous narinfo misses (unique), wrk -c$conns" unique:/nix-cache/ "")
fi

log "Basic rows (bucket private, admin credentials)"
bucket_policy delete nix-cache
[ "$(status "http://127.0.0.1:$port_nb$(head -1 "$tmp/hits.txt")")" = 401 ] || die "nix-cache is still public"
for p in "$port_apr1" "$port_ssha"; do
	[ "$(status "http://127.0.0.1:$p$(head -1 "$tmp/hits.txt")")" = 401 ] || die "nginx on :$p serves without auth"
done
measure "Basic (nginx: apr1)" hit "$tmp/hits.txt" "$conns" "$port_apr1"
measure "Basic (nginx: {SSHA})" hit "$tmp/hits.txt" "$conns" "$port_ssha"
measure "Basic (nginx: apr1)" miss "$tmp/misses.txt" "$conns" "$port_apr1"
measure "Basic (nginx: {SSHA})" miss "$tmp/misses.txt" "$conns" "$port_ssha"
measure "Basic (nginx: {SSHA})" umiss unique:/nix-cache/ "$conns" "$port_ssha"
measure "Basic (nginx: apr1)" nar "$tmp/nar.txt" "$nar_conns" "$port_apr1"
if [ "$perf_on" = 1 ]; then
	perf_out+=$(profile "Basic narinfo hits, wrk -c$conns" "$tmp/hits.txt" "$basic")
fi
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

echo "## Binary cache: nixbucket vs nginx"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), measuring took $(($(date +%s) - start_s)) s"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(df -T "$tmp" | awk 'NR==2 {print $2}') under $parent"
echo "- $(go version | cut -d' ' -f3-), $(nginx -v 2>&1 | cut -d' ' -f3), wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2), $(nix --version)"
echo "- command: \`bench/nix.sh\` (BENCH_DURATION=$duration BENCH_ROUNDS=$rounds BENCH_THREADS=$threads BENCH_CONNS=$conns BENCH_NAR_CONNS=$nar_conns BENCH_PATHS=$npaths BENCH_KIB=$kib BENCH_ACCESS_LOG=$access_log)"
echo "- load average: $load_start at start, $load_end at end"
echo "- narinfos: $npaths, mean body $((nb_narinfo_bytes / npaths)) B from nixbucket (with its Sig line) and $((ng_narinfo_bytes / npaths)) B from nginx; NAR: $nar_size B (compression=none)"
echo
echo "| request | auth | conns | unit | nixbucket median (runs) | nginx median (runs) | nixbucket/nginx (target) | status nixbucket / nginx | server CPU µs/req nixbucket / nginx |"
echo "|---|---|---:|---|---:|---:|---:|---|---:|"
printf '%s\n' "${rows[@]}"
if [ -n "$perf_out" ]; then printf '%s\n' "$perf_out"; fi
if grep -qiE 'level=(ERROR|WARN)|panic' "$tmp/nixbucket.log"; then
	log "nixbucket logged errors (first 20 lines):"
	grep -iE 'level=(ERROR|WARN)|panic' "$tmp/nixbucket.log" | head -20 >&2
fi
