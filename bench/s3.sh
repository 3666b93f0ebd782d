#!/usr/bin/env bash
# s3.sh benchmarks nixbucket against versitygw v1.8.0 on loopback with the same
# Go client (bench/s3bench), then has 16 clients PUT 1 GiB each to measure
# peak RSS. Everything runs in a temporary directory that is removed at the end.
#
# Usage: bench/s3.sh [extra s3bench flags, e.g. -duration 3s -rounds 2 -v]
#
# Environment:
#   BENCH_DIR     parent of the temporary data directories (default /tmp); both
#                 servers store their data there, on the same filesystem
#   BENCH_A       "nixbucket" (default) or "versitygw" to run versitygw against
#                 a second versitygw (to check the driver itself)
#   BENCH_RSS     1 (default) runs the peak-RSS test, 0 skips it
#   BENCH_TIMEOUT limit for the driver run in seconds (default 540; builds come on top)
#   VERSITYGW     path of the versitygw binary (default: PATH, then ~/go/bin)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
parent=${BENCH_DIR:-/tmp}
bench_a=${BENCH_A:-nixbucket}
bench_rss=${BENCH_RSS:-1}
limit=${BENCH_TIMEOUT:-540}
vgw_version=v1.8.0

tmp=$(mktemp -d "$parent/nixbucket-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# Give each server 10 s to shut down gracefully, then kill it.
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "s3.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"

# Build the driver and, unless it is replaced, nixbucket.
cd "$repo"
log "building s3bench"
go build -o "$tmp/s3bench" ./bench/s3bench

vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
if [ ! -x "$vgw" ] || ! go version -m "$vgw" | grep -q "github.com/versity/versitygw[[:space:]]*$vgw_version"; then
	log "installing versitygw $vgw_version"
	GOBIN="$tmp/gobin" go install "github.com/versity/versitygw/cmd/versitygw@$vgw_version"
	vgw="$tmp/gobin/versitygw"
fi

# start_versitygw NAME PORT starts a versitygw posix gateway and sets
# started_pid, started_ak and started_sk.
# --keep-alive: versitygw closes every connection after one request unless asked,
# which would make the comparison about TCP handshakes; --quiet: no per-request stdout log.
start_versitygw() {
	local name=$1 port=$2
	started_ak=$(random_hex 10)
	started_sk=$(random_hex 20)
	mkdir -p "$tmp/$name-data"
	ROOT_ACCESS_KEY=$started_ak ROOT_SECRET_KEY=$started_sk "$vgw" --port "127.0.0.1:$port" --keep-alive --quiet \
		posix "$tmp/$name-data" >"$tmp/$name.log" 2>&1 &
	started_pid=$!
	pids+=("$started_pid")
}

port_b=$(free_port)
start_versitygw versitygw "$port_b"
pid_b=$started_pid ak_b=$started_ak sk_b=$started_sk

port_a=$(free_port)
while [ "$port_a" = "$port_b" ]; do port_a=$(free_port); done
case "$bench_a" in
nixbucket)
	log "building nixbucket"
	go build -o "$tmp/nixbucket" ./cmd/nixbucket
	mkdir -m 700 "$tmp/nixbucket-data" # it holds credentials: the owner alone
	"$tmp/nixbucket" serve --listen "127.0.0.1:$port_a" --data "$tmp/nixbucket-data" \
		>"$tmp/nixbucket.log" 2>&1 &
	pid_a=$!
	pids+=("$pid_a")
	wait_port "$port_a" "$pid_a"
	for _ in $(seq 100); do
		[ -s "$tmp/nixbucket-data/credentials" ] && break
		sleep 0.05
	done
	a_creds=(-a-name nixbucket -a-credentials "$tmp/nixbucket-data/credentials")
	;;
versitygw)
	start_versitygw versitygw-a "$port_a"
	pid_a=$started_pid
	wait_port "$port_a" "$pid_a"
	a_creds=(-a-name versitygw-a -a-access "$started_ak" -a-secret "$started_sk")
	;;
*)
	log "BENCH_A must be nixbucket or versitygw, not $bench_a"
	exit 2
	;;
esac
wait_port "$port_b" "$pid_b"

rss_flag=()
[ "$bench_rss" = 1 ] && rss_flag=(-rss)

echo "## S3 benchmark: $bench_a vs versitygw $vgw_version"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), data on $(df -T "$tmp" | awk 'NR==2 {print $2}')"
echo "- $(go version)"
echo "- command: bench/s3.sh $*"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

log "running s3bench (limit ${limit}s)"
status=0
timeout --kill-after=10 "$limit" "$tmp/s3bench" \
	"${a_creds[@]}" -a-endpoint "http://127.0.0.1:$port_a" -a-pid "$pid_a" \
	-b-name versitygw -b-endpoint "http://127.0.0.1:$port_b" -b-access "$ak_b" -b-secret "$sk_b" -b-pid "$pid_b" \
	"${rss_flag[@]}" "$@" || status=$?
echo
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$bench_a" = nixbucket ] && grep -qiE 'level=(ERROR|WARN)|panic' "$tmp/nixbucket.log"; then
	log "nixbucket logged errors (first 20 lines):"
	grep -iE 'level=(ERROR|WARN)|panic' "$tmp/nixbucket.log" | head -20 >&2
fi
exit "$status"
