#!/usr/bin/env bash
# narcheck.sh measures what checking NarHash costs: a nixbucket server
# decodes the NAR a narinfo names (and hashes it) before it accepts and signs
# the narinfo. It uploads one NAR of BENCH_NAR_MIB MiB (half random, half
# text), compressed with zstd -3, over the binary-cache protocol (curl PUT
# with netrc credentials, as nix copy --to http://… does), then its narinfo,
# then the same narinfo again (the result is kept: no second decoding), and
# reports each PUT's wall time and the ratio of the narinfo PUT to the NAR
# upload.
#
# Usage: bench/narcheck.sh
#
# Environment:
#   BENCH_DIR      parent of the temporary directory (default /tmp)
#   BENCH_NAR_MIB  size of the NAR in MiB (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

log() { echo "narcheck: $*" >&2; }
for p in curl zstd nix-hash sha256sum; do
	command -v "$p" >/dev/null || { log "needs $p"; exit 1; }
done

mib=${BENCH_NAR_MIB:-1024}
tmp=$(mktemp -d "${BENCH_DIR:-/tmp}/narcheck.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

log "building nixbucket"
go build -o "$tmp/nixbucket" ./cmd/nixbucket
port=$(free_port)
"$tmp/nixbucket" serve --listen "127.0.0.1:$port" --data "$tmp/data" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/data/netrc" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
base=http://127.0.0.1:$port/nix-cache

log "making a $mib MiB NAR and compressing it with zstd -3"
{
	head -c $((mib / 2))M /dev/urandom
	yes "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-text $(date)" | head -c $((mib - mib / 2))M || true # yes dies of SIGPIPE
} >"$tmp/nar"
zstd -q -3 -T0 -c "$tmp/nar" >"$tmp/nar.zst"
nar_hash=$(nix-hash --type sha256 --to-base32 "$(sha256sum "$tmp/nar" | cut -d' ' -f1)")
file_hash=$(nix-hash --type sha256 --to-base32 "$(sha256sum "$tmp/nar.zst" | cut -d' ' -f1)")
url=nar/$file_hash.nar.zst
hash=0123456789abcdfghijklmnpqrsvwxyz
cat >"$tmp/narinfo" <<EOF
StorePath: /nix/store/$hash-narcheck
URL: $url
Compression: zstd
FileHash: sha256:$file_hash
FileSize: $(stat -c %s "$tmp/nar.zst")
NarHash: sha256:$nar_hash
NarSize: $(stat -c %s "$tmp/nar")
References: 
EOF

put() { # put FILE KEY: prints the wall time of the PUT in seconds
	curl -sS -f --netrc-file "$tmp/data/netrc" -o /dev/null -w '%{time_total}\n' -T "$1" "$base/$2"
}
log "PUT $url ($(stat -c %s "$tmp/nar.zst") bytes)"
t_nar=$(put "$tmp/nar.zst" "$url")
log "PUT $hash.narinfo (first: decodes and hashes the NAR)"
t_first=$(put "$tmp/narinfo" "$hash.narinfo")
log "PUT $hash.narinfo (again: the result is kept)"
t_again=$(put "$tmp/narinfo" "$hash.narinfo")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat <<EOF
### NarHash check, $mib MiB NAR, zstd -3 ($(date -u +%F), $(nproc) cores)

| PUT | wall | vs NAR upload |
|---|---:|---:|
| NAR file ($(($(stat -c %s "$tmp/nar.zst") >> 20)) MiB zstd) | ${t_nar} s | 1.00× |
| narinfo, first (decode + SHA-256 of $mib MiB) | ${t_first} s | $(ratio "$t_first" "$t_nar")× |
| narinfo, again (kept result) | ${t_again} s | $(ratio "$t_again" "$t_nar")× |
EOF
