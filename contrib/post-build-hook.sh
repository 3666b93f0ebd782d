#!/bin/sh
# Nix post-build hook: push every path Nix builds to a binary cache with
# `nixbucket push`.
#
#   install -m 0755 contrib/post-build-hook.sh /etc/nix/upload-to-cache.sh
#   echo 'post-build-hook = /etc/nix/upload-to-cache.sh' >> /etc/nix/nix.conf
#   systemctl restart nix-daemon      # if Nix runs as a daemon
#
# Nix runs the hook after every build, as root under nix-daemon (or as the
# building user in a single-user install), with a minimal PATH, and WAITS
# for it: a slow push delays every build, and a hook that exits non-zero
# fails the build (`program '…' failed with exit code 1`). This hook
# therefore logs a failed push and exits 0; set STRICT=1 to fail the build
# instead.
#
# Edit the settings below (each may also come from the environment).

# The nixbucket binary, by absolute path: the daemon's PATH is minimal.
: "${NIXBUCKET:=/usr/local/bin/nixbucket}"
# The cache to push to. A nixbucket on this machine over S3, with the
# credentials its first start wrote (the [nixbucket] profile):
: "${CACHE_URL:=s3://nix-cache?endpoint=127.0.0.1:9000&scheme=http&profile=nixbucket}"
: "${AWS_SHARED_CREDENTIALS_FILE:=/var/lib/nixbucket/credentials}"
# or over plain HTTP with its netrc:
#   CACHE_URL=http://127.0.0.1:9000/nix-cache
#   NETRC_FILE=/var/lib/nixbucket/netrc
# or a bucket on AWS, signing with your own key as well:
#   CACHE_URL='s3://example-nix-cache?profile=cache-upload&region=eu-west-2&secret-key=/etc/nix/cache-key.sec'
#   AWS_SHARED_CREDENTIALS_FILE=/root/.aws/credentials
: "${NETRC_FILE:=}"
: "${STRICT:=0}"
export AWS_SHARED_CREDENTIALS_FILE

set -u
set -f # store paths are split on spaces, never globbed

# Nix 2.8.0 passes an empty OUT_PATHS (NixOS/nix#6446): ask the store for
# the outputs of the derivation that was built instead.
paths=${OUT_PATHS:-}
if [ -z "$paths" ] && [ -n "${DRV_PATH:-}" ]; then
	nix_store=$(command -v nix-store || echo /nix/var/nix/profiles/default/bin/nix-store)
	paths=$("$nix_store" --query --outputs "$DRV_PATH") || paths=
fi
if [ -z "$paths" ]; then
	echo "post-build-hook: no output paths for ${DRV_PATH:-an unknown derivation}; nothing pushed" >&2
	exit 0
fi

set -- --quiet --stdin --to "$CACHE_URL"
if [ -n "$NETRC_FILE" ]; then
	set -- "$@" --netrc-file "$NETRC_FILE"
fi
# Only outputs that exist: a derivation may have outputs this build did not make.
for p in $paths; do
	[ -e "$p" ] && printf '%s\n' "$p"
done | "$NIXBUCKET" push "$@"
status=$?
if [ "$status" -ne 0 ]; then
	if [ "$STRICT" = 1 ]; then
		echo "post-build-hook: pushing $paths to $CACHE_URL failed (exit $status); STRICT=1: failing the build" >&2
		exit "$status"
	fi
	echo "post-build-hook: pushing $paths to $CACHE_URL failed (exit $status); the build goes on" >&2
fi
exit 0
