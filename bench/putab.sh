#!/usr/bin/env bash
# bench/putab.sh — A/B of PUTs through a node on PostgreSQL + S3 against
# PUTs straight to the store, for two or more nixbucket binaries.
#
#   bench/putab.sh BIN...        e.g. bench/putab.sh /tmp/old/nixbucket /tmp/new/nixbucket
#
# One durable PostgreSQL cluster (fsync and synchronous_commit on) for the
# run. For each round, each binary in turn gets a database and a versitygw
# of its own, started afresh: node A takes s3bench's PUTs while OTHERS more
# nodes listen on the same database (bench/scale.sh has three: B, R, C), so
# every write waits for their acknowledgements as in a deployment. s3bench
# alternates the node and versitygw in the same seconds and prints their
# ratio, and the CPU ms per PUT of the node, versitygw and itself; the
# script adds the CPU of PostgreSQL (every postgres process) and of the
# other nodes per PUT through A (s3bench's deletes between rounds
# included). Compare binaries by ratios within one run: absolute figures
# drift with the machine.
#
# Environment: ROUNDS (default 2), OTHERS (3), SIZES (1MiB), CONC (1,16),
# PGOPTS (extra postgres -c settings, e.g. "-c synchronous_commit=off"),
# WATCHED=1 (each other node reads the bench bucket first, so it keeps
# answers about it and every write waits for it, as in a push to a cache
# every node serves; by default they serve other buckets, and no write
# waits for them).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN..." >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
log() { echo "putab: $*" >&2; }
die() { log "$*"; exit 1; }
rounds=${ROUNDS:-2}
others=${OTHERS:-3}
sizes=${SIZES:-1MiB}
conc=${CONC:-1,16}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
[ -x "$vgw" ] || die "versitygw is not installed (scripts/test.sh installs it)"
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done

tmp=$(mktemp -d /tmp/putab.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/s3bench" ./bench/s3bench
go build -o "$tmp/scaletool" ./bench/scaletool

pg_port=$(free_port)
mkdir -p "$tmp/pg"
chown postgres: "$tmp/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w \
	-o "-p $pg_port -k $tmp/pg -c listen_addresses=127.0.0.1 -c max_connections=200 ${PGOPTS:-}" start >/dev/null
pgq() { "$pgbin/psql" -X -A -t -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "$1"; }
# ticks sums utime+stime (clock ticks) of every postgres process and of
# the processes named.
ticks() {
	local t=0 p
	for p in $(pgrep -u postgres postgres) "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

n=0
for r in $(seq "$rounds"); do
	for bin in "${bins[@]}"; do
		n=$((n + 1))
		name=$(printf %s "$(basename "$(dirname "$bin")")/$(basename "$bin")" | tr -c "A-Za-z0-9_/-" _)
		pgq "CREATE DATABASE nb$n" >/dev/null
		vport=$(free_port)
		ak=$(random_hex 10) sk=$(random_hex 20)
		mkdir -p "$tmp/s3-$n"
		ROOT_ACCESS_KEY=$ak ROOT_SECRET_KEY=$sk "$vgw" --port "127.0.0.1:$vport" --keep-alive --quiet posix "$tmp/s3-$n" >/dev/null 2>&1 &
		vpid=$!
		pids+=("$vpid")
		wait_port "$vport" "$vpid" 15
		s3env=(AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" AWS_REGION=us-east-1
			AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_PROFILE=)
		env "${s3env[@]}" "$tmp/scaletool" mkbucket -endpoint "http://127.0.0.1:$vport" blobs direct
		meta="postgres://postgres@127.0.0.1:$pg_port/nb$n?sslmode=disable"
		blobs="s3://blobs/cache?endpoint=http://127.0.0.1:$vport"
		nodes=() oports=()
		for i in $(seq 0 "$others"); do
			port=$(free_port)
			env "${s3env[@]}" "$bin" serve --listen "127.0.0.1:$port" --data "$tmp/d$n-$i" --meta "$meta" --blobs "$blobs" \
				--blob-cache-size 0 --access-log=off >"$tmp/n$n-$i.log" 2>&1 &
			p=$!
			pids+=("$p")
			nodes+=("$p")
			wait_port "$port" "$p" 15
			if [ "$i" = 0 ]; then aport=$port; else oports+=("$port"); fi
			for _ in $(seq 200); do
				[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/health")" = 200 ] && break
				sleep 0.05
			done
		done
		sleep 1 # past the listeners' join grace
		if [ "${WATCHED:-0}" = 1 ]; then
			cenv=(AWS_ACCESS_KEY_ID="$(sed -n 's/^aws_access_key_id *= *//p' "$tmp/d$n-0/credentials" | head -n 1)"
				AWS_SECRET_ACCESS_KEY="$(sed -n 's/^aws_secret_access_key *= *//p' "$tmp/d$n-0/credentials" | head -n 1)")
			env "${cenv[@]}" "$tmp/scaletool" mkbucket -endpoint "http://127.0.0.1:$aport" bench
			for p in "${oports[@]}"; do
				env "${cenv[@]}" "$tmp/scaletool" head -endpoint "http://127.0.0.1:$p" -bucket bench -key none
			done
			sleep 0.5 # the registrations, a transaction and a round of acknowledgements each
		fi
		t0=$(ticks "${nodes[@]:1}")
		out=$("$tmp/s3bench" -a-name "$name" -a-endpoint "http://127.0.0.1:$aport" -a-credentials "$tmp/d$n-0/credentials" \
			-b-name versitygw -b-endpoint "http://127.0.0.1:$vport" -b-access "$ak" -b-secret "$sk" \
			-a-cpu "nixbucket=${nodes[0]},versitygw=$vpid" -b-cpu "versitygw=$vpid" \
			-ops put -sizes "$sizes" -concurrency "$conc" -rounds 3 -duration 1500ms 2>&1) || die "s3bench failed: $out"
		t1=$(ticks "${nodes[@]:1}")
		ops=$(grep -E "s3bench: .* $name +put" <<<"$out" | sed -E 's/.*\(([0-9]+) ops.*/\1/' | paste -sd+ | bc)
		echo "== $name, round $r ($others other nodes listening$([ "${WATCHED:-0}" = 1 ] && echo ', each serving the bucket'))"
		grep -E '^\|' <<<"$out" | grep -v -- '---'
		echo "PostgreSQL and the other nodes: $(echo "scale=2; ($t1 - $t0) * 1000 / $hz / $ops" | bc) CPU ms per PUT through the node ($ops PUTs)"
		for p in "${nodes[@]}" "$vpid"; do
			kill -9 "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		done
	done
done
