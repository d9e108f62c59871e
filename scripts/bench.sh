#!/usr/bin/env bash
# Runs mesh's benchmark suite and writes bench/RESULTS.md, its charts
# (PNG) and mesh's CPU profiles beside it.
#
#   scripts/bench.sh quick   # about 8 minutes on 2 cores: fewer rounds
#   scripts/bench.sh full    # more rounds, M at 1M activations: about 19 minutes (estimated)
#
# Further arguments go to the benchmark program, e.g. -only B1,C1 or
# -rounds 5; -report rewrites RESULTS.md from bench/results.json alone
# (written by every run, not committed); -only R1 -merge reruns R1 alone
# and merges its results into bench/results.json, keeping the others.
# Every node is an OS process on 127.0.0.1; progress goes to stderr.
# Workload S and the mesh+save-pg contender use PostgreSQL: the database
# of MESH_BENCH_POSTGRES_URL if set, else a throwaway local server when
# PostgreSQL is installed (the benchmark makes a table per run there and
# drops it afterwards).
set -euo pipefail

mode="${1:-quick}"
case "$mode" in
quick | full) shift || true ;;
-*) mode=quick ;;
*)
	echo "usage: $0 quick|full [benchmark flags]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
work="$(mktemp -d)"
pg_dir=""
pg_pid=""
cleanup() {
	if [ -n "$pg_pid" ]; then
		kill -INT "$pg_pid" 2>/dev/null || true # a fast shutdown
		wait "$pg_pid" 2>/dev/null || true
	fi
	[ -z "$pg_dir" ] || rm -rf "$pg_dir"
	rm -rf "$work"
}
trap cleanup EXIT

# PostgreSQL for workload S and the mesh+save-pg contender: the database
# of MESH_BENCH_POSTGRES_URL if set, else a throwaway server of the
# installed PostgreSQL (fsync on, a Unix socket in a temporary directory,
# as the user postgres when run as root), else those runs are reported as
# not run.
start_postgres() {
	local bin="" d
	for d in "$(dirname "$(command -v initdb 2>/dev/null || echo .)")" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
			bin="$(dirname "$(readlink -f "$d/postgres")")"
			break
		fi
	done
	if [ -z "$bin" ]; then
		echo "bench: no PostgreSQL installed: its runs are reported as not run" >&2
		return 0
	fi
	pg_dir="$(mktemp -d)"
	local run=()
	if [ "$(id -u)" = 0 ]; then # postgres refuses to run as root
		local user=postgres
		id "$user" >/dev/null 2>&1 || user=nobody
		chown "$user" "$pg_dir"
		run=(setpriv --reuid "$user" --regid "$(id -g "$user")" --init-groups --)
	fi
	if ! "${run[@]}" "$bin/initdb" --pgdata "$pg_dir/data" --username postgres --auth trust \
		--encoding UTF8 --no-locale --no-sync >"$work/initdb.log" 2>&1; then
		echo "bench: initdb failed, PostgreSQL runs are reported as not run:" >&2
		cat "$work/initdb.log" >&2
		return 0
	fi
	: >"$work/postgres.log"
	"${run[@]}" "$bin/postgres" -D "$pg_dir/data" -k "$pg_dir" -c listen_addresses= \
		-c max_connections=300 >"$work/postgres.log" 2>&1 &
	pg_pid=$!
	local i
	for i in $(seq 100); do
		if grep -q "ready to accept connections" "$work/postgres.log"; then
			export MESH_BENCH_POSTGRES_URL="postgres://postgres@/postgres?host=$pg_dir&sslmode=disable"
			echo "bench: started a throwaway PostgreSQL server ($("$bin/postgres" --version))" >&2
			return 0
		fi
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: PostgreSQL did not start, its runs are reported as not run:" >&2
	cat "$work/postgres.log" >&2
}
if [ -z "${MESH_BENCH_POSTGRES_URL:-}" ]; then
	start_postgres
fi

start=$(date +%s)
echo "bench: building the benchmark program" >&2
go build -o "$work/meshbench" ./bench
# A full run also rewrites README.md's table of targets, so that the
# README's figures are a run's.
readme=()
[ "$mode" = full ] && readme=(-readme README.md)
"$work/meshbench" -mode "$mode" -out bench "${readme[@]}" "$@"
echo "bench: $mode run took $(($(date +%s) - start)) s; results in bench/RESULTS.md" >&2
