# lib.sh holds what the bench/*.sh scripts share; they source it.

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "$(basename "$0"): no free port found" >&2
	return 1
}

# The functions below expect the sourcing script to define log and die
# (and, for nixc, tmp).

# stop PID: TERM, up to 10 s grace, then KILL.
stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# wait_port PORT PID [SECONDS] waits (10 s by default) for a TCP listener
# on 127.0.0.1:PORT run by PID, and dies if none comes or PID exits.
wait_port() {
	local secs=${3:-10}
	for _ in $(seq $((secs * 20))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || die "pid $2 exited before listening on :$1"
		sleep 0.05
	done
	die "nothing listens on 127.0.0.1:$1 after $secs s"
}

# random_hex N prints N random bytes in hex.
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# median prints the median of the numbers on stdin, one per line (0 for none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# start_watchdog LIMIT sends the script TERM after LIMIT seconds (its
# cleanup trap then stops what it started); the watchdog's pid goes to
# $watchdog, for cleanup to kill.
start_watchdog() {
	(
		trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
		sleep "$1" &
		sleeper=$!
		wait "$sleeper"
		log "time limit of ${1}s reached"
		kill -TERM $$
	) &
	watchdog=$!
}

# nixc ARGS... runs `nix copy ARGS` quietly, dying with its log on failure.
nixc() { nix --extra-experimental-features nix-command copy --quiet "$@" 2>"$tmp/nix-copy.log" || { cat "$tmp/nix-copy.log" >&2; die "nix copy $* failed"; }; }
