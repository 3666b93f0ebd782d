#!/usr/bin/env bash
# push.sh benchmarks `nixbucket push` against Nix 2.8's `nix copy --to http://…`,
# both pushing to one nixbucket server on loopback, each into a fresh bucket
# (deleted after the run).
#
#   - Speed: a closure of BENCH_PATHS paths with BENCH_KIB KiB of random bytes
#     each beside a copy of perl (make-closure.sh 20 16384: about 500 MB of NAR),
#     pushed by nixbucket push (zstd, over http:// with netrc credentials, and
#     over s3://) and by nix copy with compression=zstd, BENCH_ROUNDS times,
#     alternating which goes first; then once by nix copy with Nix's default,
#     xz, for reference. Reported: median wall time, NAR MB/s, peak RSS of the
#     client, and the ratio to nix copy with zstd.
#   - Memory: one store path holding a BENCH_BIG_MIB MiB file, half random and
#     half repeated copies of perl (compressible), pushed by nixbucket push;
#     reported: wall time and peak RSS (target: at most 200 MiB).
#
# A markdown section goes to stdout, progress to stderr. Everything runs in a
# temporary directory removed at the end; the store paths are deleted.
#
# Usage: bench/push.sh
#
# Environment:
#   BENCH_DIR       parent of the temporary directory (default /tmp)
#   BENCH_PATHS     paths in the closure (default 20)
#   BENCH_KIB       random KiB per path (default 16384)
#   BENCH_ROUNDS    runs per speed row (default 3)
#   BENCH_XZ        1 adds the nix copy row with xz (default 1)
#   BENCH_BIG_MIB   size of the memory test's file in MiB (default 4096; 0 skips it)
#   BENCH_JOBS      nixbucket push --jobs (default 8)
#   BENCH_CORPUS    directory of make-closure.sh (default ../shared/corpus)
#
# Needs root (single-user Nix store), Debian's nix-bin, GNU time (/usr/bin/time),
# curl and the aws CLI (to create buckets).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
corpus=${BENCH_CORPUS:-$(cd "$repo/.." && pwd)/shared/corpus}
parent=${BENCH_DIR:-/tmp}
npaths=${BENCH_PATHS:-20}
kib=${BENCH_KIB:-16384}
rounds=${BENCH_ROUNDS:-3}
with_xz=${BENCH_XZ:-1}
big_mib=${BENCH_BIG_MIB:-4096}
jobs=${BENCH_JOBS:-8}

log() { echo "push.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in nix nix-build nix-store curl aws; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nix-bin curl; pip install awscli)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install -y time)"
[ -x "$corpus/make-closure.sh" ] || die "no $corpus/make-closure.sh"
[ "$(id -u)" = 0 ] || die "needs root (single-user Nix store)"

tmp=$(mktemp -d "$parent/pushbench.XXXXXX")
nb_pid='' paths_to_delete=()
cleanup() {
	if [ -n "$nb_pid" ]; then
		kill -TERM "$nb_pid" 2>/dev/null || true
		wait "$nb_pid" 2>/dev/null || true
	fi
	rm -f "$tmp"/*/result
	if [ ${#paths_to_delete[@]} -gt 0 ]; then
		local drvs
		mapfile -t drvs < <(nix-store -q --deriver "${paths_to_delete[@]}" 2>/dev/null | grep -v unknown-deriver)
		nix-store --delete "${paths_to_delete[@]}" >/dev/null 2>&1 || true
		if [ ${#drvs[@]} -gt 0 ]; then
			nix-store --delete "${drvs[@]}" >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"

cd "$repo"
log "building nixbucket"
go build -o "$tmp/nb" ./cmd/nixbucket
nb=$tmp/nb

tag=benchpush$RANDOM
log "building the closure ($npaths paths x $kib KiB of random bytes, plus perl)"
top=$(TMPDIR=$tmp "$corpus/make-closure.sh" "$npaths" "$kib" "$tag")
mapfile -t closure < <(nix-store -q --requisites "$top")
paths_to_delete+=("${closure[@]}")
nar_bytes=0
for p in "${closure[@]}"; do nar_bytes=$((nar_bytes + $(nix-store -q --size "$p"))); done
log "closure: ${#closure[@]} paths, $nar_bytes bytes of NAR"

port=$(free_port)
log "starting nixbucket on :$port"
mkdir -m 700 "$tmp/data" # the data directory holds credentials: the owner alone
"$nb" serve --listen "127.0.0.1:$port" --data "$tmp/data" >"$tmp/nixbucket.log" 2>&1 &
nb_pid=$!
for _ in $(seq 200); do
	[ -s "$tmp/data/netrc" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.05
done
[ -s "$tmp/data/netrc" ] || die "nixbucket did not start: $(cat "$tmp/nixbucket.log")"
endpoint=http://127.0.0.1:$port
export AWS_SHARED_CREDENTIALS_FILE=$tmp/data/credentials AWS_EC2_METADATA_DISABLED=true
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export XDG_CACHE_HOME=$tmp/xdg

bucket_n=0
new_bucket() {
	bucket_n=$((bucket_n + 1))
	bucket=bench-$bucket_n
	aws --endpoint-url "$endpoint" --profile nixbucket --region us-east-1 s3 mb "s3://$bucket" >/dev/null
}

# run NAME CMD... runs one push into a fresh bucket ($bucket is set before
# CMD is evaluated), appends "NAME seconds peak-KiB" to $tmp/results, checks
# that every path arrived and deletes the bucket.
run() {
	local name=$1
	shift
	new_bucket
	rm -rf "$XDG_CACHE_HOME"
	local cmd=("${@//@BUCKET@/$bucket}")
	sync
	if ! /usr/bin/time -o "$tmp/time" -f '%e %M' "${cmd[@]}" >"$tmp/out.log" 2>&1; then
		cat "$tmp/out.log" >&2
		die "$name failed: ${cmd[*]}"
	fi
	read -r secs kb <"$tmp/time"
	log "$name: ${secs}s, peak RSS ${kb} KiB"
	echo "$name $secs $kb" >>"$tmp/results"
	# Every path must have arrived.
	local h
	for p in "${closure[@]}"; do
		h=$(basename "$p" | cut -c1-32)
		[ "$(curl -s -o /dev/null -w '%{http_code}' --netrc-file "$tmp/data/netrc" "$endpoint/$bucket/$h.narinfo")" = 200 ] ||
			die "$name: $bucket lacks $h.narinfo"
	done
	# Delete the bucket, so that the server's files (and their page cache)
	# do not pile up run after run. Otherwise every upload writes page cache
	# into memory the VM has not used before, which (most likely through
	# host page faults) costs the server 60-80% more CPU on this machine
	# (perf: copy_folio_from_iter_atomic in its write(2)s), for both
	# clients: the runs would measure the VM's memory more than the clients.
	aws --endpoint-url "$endpoint" --profile nixbucket --region us-east-1 s3 rb --force "s3://$bucket" >/dev/null
}

nixcopy=(nix --extra-experimental-features nix-command copy --quiet --option netrc-file "$tmp/data/netrc")
push_http=("$nb" push --quiet --jobs "$jobs" --netrc-file "$tmp/data/netrc" --to "$endpoint/@BUCKET@" "$top")
push_s3=("$nb" push --quiet --jobs "$jobs" --to "s3://@BUCKET@?endpoint=127.0.0.1:$port&scheme=http&profile=nixbucket" "$top")
copy_zstd=("${nixcopy[@]}" --to "$endpoint/@BUCKET@?compression=zstd" "$top")
copy_xz=("${nixcopy[@]}" --to "$endpoint/@BUCKET@" "$top")

: >"$tmp/results"
for r in $(seq "$rounds"); do
	log "speed round $r of $rounds"
	if [ $((r % 2)) = 1 ]; then
		run "nix-copy-zstd" "${copy_zstd[@]}"
		run "push-http" "${push_http[@]}"
		run "push-s3" "${push_s3[@]}"
	else
		run "push-s3" "${push_s3[@]}"
		run "push-http" "${push_http[@]}"
		run "nix-copy-zstd" "${copy_zstd[@]}"
	fi
done
if [ "$with_xz" = 1 ]; then
	log "nix copy with xz (once)"
	run "nix-copy-xz" "${copy_xz[@]}"
fi

# median NAME prints the median seconds and the median peak KiB of NAME's runs.
median() {
	local secs kb
	secs=$(awk -v n="$1" '$1 == n { print $2 }' "$tmp/results" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	kb=$(awk -v n="$1" '$1 == n { print $3 }' "$tmp/results" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	echo "$secs $kb"
}
read -r base_s _ < <(median nix-copy-zstd)

big_row=''
if [ "$big_mib" -gt 0 ]; then
	half=$((big_mib / 2))
	log "building one path with a $big_mib MiB file (half random, half repeated perl)"
	cat >"$tmp/big.nix" <<EOF
derivation {
  name = "$tag-big";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" ''
    set -e
    /bin/mkdir -p \$out
    { /usr/bin/head -c ${half}M /dev/urandom
      while :; do /bin/cat /usr/bin/perl; done | /usr/bin/head -c ${half}M
    } > \$out/big.bin
  '' ];
}
EOF
	big=$(nix-build --quiet --option sandbox false --option substituters "" "$tmp/big.nix" -o "$tmp/big/result" 2>/dev/null)
	paths_to_delete+=("$big")
	big_nar=$(nix-store -q --size "$big")
	new_bucket
	sync
	/usr/bin/time -o "$tmp/time" -f '%e %M' "$nb" push --quiet --jobs "$jobs" --netrc-file "$tmp/data/netrc" --to "$endpoint/$bucket" "$big" >"$tmp/out.log" 2>&1 ||
		{ cat "$tmp/out.log" >&2; die "push of the big path failed"; }
	read -r big_s big_kb <"$tmp/time"
	log "big path: ${big_s}s, peak RSS ${big_kb} KiB"
	big_row=$(awk -v s="$big_s" -v kb="$big_kb" -v b="$big_nar" 'BEGIN {
		printf "| nixbucket push, one path of %.0f MiB (http://) | %.1f s | %.0f | %.0f MiB |", b / 1048576, s, b / s / 1e6, kb / 1024 }')
fi

cat <<EOF
## nixbucket push vs nix copy (bench/push.sh)

$(date -u +%Y-%m-%d), $(nproc) cores, $(nix --version), loopback, one nixbucket server; each push into a
fresh bucket, deleted after it. Closure: make-closure.sh $npaths $kib, ${#closure[@]} paths, $((nar_bytes / 1048576)) MiB of NAR.
Median of $rounds runs (xz: one run); RSS is the client's peak.

| client | wall | NAR MB/s | peak RSS | vs nix copy zstd |
|---|---|---|---|---|
EOF
for name in push-http push-s3 nix-copy-zstd nix-copy-xz; do
	grep -q "^$name " "$tmp/results" || continue
	read -r s kb < <(median "$name")
	label=$(case $name in
		push-http) echo "nixbucket push --jobs $jobs (http://, zstd)" ;;
		push-s3) echo "nixbucket push --jobs $jobs (s3://, zstd)" ;;
		nix-copy-zstd) echo "nix copy (http://, compression=zstd)" ;;
		nix-copy-xz) echo "nix copy (http://, default xz)" ;;
	esac)
	awk -v l="$label" -v s="$s" -v kb="$kb" -v b="$nar_bytes" -v base="$base_s" 'BEGIN {
		printf "| %s | %.1f s | %.0f | %.0f MiB | %.2f× |\n", l, s, b / s / 1e6, kb / 1024, base / s }'
done
if [ -n "$big_row" ]; then
	echo
	echo "| memory | wall | NAR MB/s | peak RSS |"
	echo "|---|---|---|---|"
	echo "$big_row"
fi
