#!/usr/bin/env bash
# Runs mesh's benchmark suite and writes bench/RESULTS.md, its charts
# (PNG) and mesh's CPU profiles beside it.
#
#   scripts/bench.sh quick   # about 6 minutes on 2 cores: fewer rounds
#   scripts/bench.sh full    # more rounds, M at 1M activations: about 15 minutes (estimated)
#
# Further arguments go to the benchmark program, e.g. -only B1,C1 or
# -rounds 5; -report rewrites RESULTS.md from bench/results.json alone
# (written by every run, not committed).
# Every node is an OS process on 127.0.0.1; progress goes to stderr.
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
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
echo "bench: building the benchmark program" >&2
go build -o "$work/meshbench" ./bench
"$work/meshbench" -mode "$mode" -out bench "$@"
echo "bench: $mode run took $(($(date +%s) - start)) s; results in bench/RESULTS.md" >&2
