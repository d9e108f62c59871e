#!/usr/bin/env bash
# A local cluster of an example's nodes, each its own OS process with its own
# ports and log file, for trying mesh and cmd/mesh by hand.
#
#   scripts/cluster.sh up N          build, then start node-1 ... node-N
#   scripts/cluster.sh status        each node's process, then `mesh status` and `mesh peers`
#   scripts/cluster.sh kill NODE     kill -9 NODE (e.g. node-2): a crash
#   scripts/cluster.sh restart NODE  stop NODE (SIGTERM: it drains and hands its processes
#                                    off) if it runs, then start it again, same name and ports
#   scripts/cluster.sh rolling       restart every node in turn, each once the cluster is
#                                    healthy again: no call fails, no handed-off state is lost
#   scripts/cluster.sh down          stop every node (SIGTERM; SIGKILL after 15 s)
#
# node-i gossips on 127.0.0.1 port BASE_PORT+i, takes actor messages on port
# BASE_PORT+1000+i and serves its admin endpoint on port BASE_PORT+2000+i: with the
# default BASE_PORT=7100, node-1's admin endpoint is 127.0.0.1:9101, which is
# what cmd/mesh asks by default. Logs, pids and binaries go to .cluster/ at
# the top of the repository (git-ignored).
#
# Environment:
#   EXAMPLE      chat (default) or game; game nodes alternate regions eu, us
#   BASE_PORT    7100 by default
#   CLUSTER_DIR  .cluster by default
#   MESH_TOKEN   if set at `up` (16 bytes or more, e.g. $(openssl rand -hex 16)),
#                every node's admin endpoint requires it as an operator token;
#                the nodes and cmd/mesh read it from the environment, never
#                from their command line, and status, restart and rolling
#                need the same token again
#   SECURE       if 1 at `up` (with MESH_TOKEN set), the cluster runs secured: `up` makes a
#                development CA and a certificate per node (mesh certs, in .cluster/certs)
#                and a gossip key (.cluster/gossip.key, mode 0600); the nodes speak mutual
#                TLS and seal their gossip with the key, which they read from their
#                environment, never from their command line
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${CLUSTER_DIR:-$root/.cluster}
state=$dir/cluster.env

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 2
}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# load reads what `up` saved: EXAMPLE, N, BASE_PORT, TOKEN_SUM, SECURE.
load() {
	[ -f "$state" ] || die "no cluster here: run 'scripts/cluster.sh up N' first"
	TOKEN_SUM=
	SECURE=
	# shellcheck source=/dev/null
	. "$state"
}

# token_sum is a fingerprint of MESH_TOKEN (not the token), or "" if unset.
token_sum() {
	[ -n "${MESH_TOKEN:-}" ] || return 0
	printf %s "$MESH_TOKEN" | sha256sum | cut -c1-16
}

# need_token fails unless MESH_TOKEN is the token the cluster was started
# with (or none, for a cluster started without).
need_token() {
	local sum
	sum=$(token_sum)
	[ "$sum" = "$TOKEN_SUM" ] && return 0
	[ -n "$TOKEN_SUM" ] || die "this cluster was started without MESH_TOKEN: unset it"
	[ -n "$sum" ] || die "this cluster was started with MESH_TOKEN: export it again"
	die "MESH_TOKEN is not the token this cluster was started with"
}

gossip_addr() { echo "127.0.0.1:$((BASE_PORT + $1))"; }
remote_addr() { echo "127.0.0.1:$((BASE_PORT + 1000 + $1))"; }
admin_addr() { echo "127.0.0.1:$((BASE_PORT + 2000 + $1))"; }

# index turns node-3 into 3, refusing names that are not in the cluster.
index() {
	local i=${1#node-}
	[[ $1 == node-* && $i =~ ^[0-9]+$ && $i -ge 1 && $i -le $N ]] || die "no node $1: the nodes are node-1 ... node-$N"
	echo "$i"
}

running() {
	local pidfile=$dir/node-$1.pid
	[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

all_admins() {
	local addrs="" i
	for ((i = 1; i <= N; i++)); do addrs+="${addrs:+,}$(admin_addr "$i")"; done
	echo "$addrs"
}

# start starts node-i in the background and waits for it to serve.
start() {
	local i=$1 name=node-$1 seeds="" j
	running "$i" && die "$name is running already (pid $(cat "$dir/$name.pid"))"
	for ((j = 1; j <= N; j++)); do seeds+="${seeds:+,}$(gossip_addr "$j")"; done
	local args=(-node "$name" -gossip "$(gossip_addr "$i")" -remote "$(remote_addr "$i")"
		-admin "$(admin_addr "$i")" -admin-calls -seeds "$seeds")
	if [ "$EXAMPLE" = game ]; then
		local regions=(eu us)
		args+=(-region "${regions[$(((i - 1) % 2))]}")
	fi
	local env=()
	if [ "$SECURE" = 1 ]; then
		args+=(-tls-dir "$dir/certs")
		env=("MESH_GOSSIP_KEY=$(cat "$dir/gossip.key")")
	fi
	local log=$dir/$name.log
	echo "--- $(date '+%F %T') start ${args[*]}" >>"$log"
	env "${env[@]}" "$dir/bin/$EXAMPLE" "${args[@]}" >>"$log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
	local lines
	lines=$(wc -l <"$log")
	for _ in $(seq 300); do
		if tail -n +"$((lines + 1))" "$log" | grep -q "^$name ready"; then
			echo "$name   pid $(cat "$dir/$name.pid")   gossip $(gossip_addr "$i")   admin $(admin_addr "$i")   log ${log#"$root"/}"
			return
		fi
		running "$i" || die "$name exited; see $log"
		sleep 0.1
	done
	die "$name did not start within 30 s; see $log"
}

# stop_node sends node-i SIGTERM, which drains it and hands its processes
# off, and waits for it to exit.
stop_node() {
	local i=$1
	running "$i" || return 0
	kill -TERM "$(cat "$dir/node-$i.pid")"
	for _ in $(seq 150); do running "$i" || return 0; sleep 0.1; done
	die "node-$i still runs 15 s after SIGTERM"
}

restart() {
	stop_node "$1"
	start "$1"
}

# healthy waits up to 30 s for every node to report the cluster healthy.
healthy() {
	for _ in $(seq 60); do
		"$dir/bin/mesh" --addr "$(all_admins)" status >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

cmd=${1:-}
case $cmd in
up)
	[ $# -eq 2 ] && [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || usage
	if [ -f "$state" ]; then
		load
		for ((i = 1; i <= N; i++)); do
			running "$i" && die "node-$i is running: run 'scripts/cluster.sh down' first"
		done
	fi
	EXAMPLE=${EXAMPLE:-chat}
	BASE_PORT=${BASE_PORT:-7100}
	N=$2
	case $EXAMPLE in chat | game) ;; *) die "EXAMPLE=$EXAMPLE: want chat or game" ;; esac
	[ -z "${MESH_TOKEN:-}" ] || [ ${#MESH_TOKEN} -ge 16 ] || die "MESH_TOKEN is ${#MESH_TOKEN} bytes: want 16 or more"
	SECURE=${SECURE:-}
	case $SECURE in "" | 0) SECURE= ;; 1) [ -n "${MESH_TOKEN:-}" ] || die "SECURE=1 needs MESH_TOKEN for the admin endpoints too" ;; *) die "SECURE=$SECURE: want 1" ;; esac
	TOKEN_SUM=$(token_sum)
	mkdir -p "$dir/bin"
	echo "building examples/$EXAMPLE and cmd/mesh into ${dir#"$root"/}/bin"
	(cd "$root" && go build -o "$dir/bin/$EXAMPLE" "./examples/$EXAMPLE" && go build -o "$dir/bin/mesh" ./cmd/mesh)
	if [ "$SECURE" = 1 ]; then
		rm -rf "$dir/certs" "$dir/gossip.key"
		"$dir/bin/mesh" certs ca --dir "$dir/certs" >/dev/null
		for ((i = 1; i <= N; i++)); do "$dir/bin/mesh" certs node "node-$i" --dir "$dir/certs" >/dev/null; done
		(umask 077 && head -c 32 /dev/urandom | base64 >"$dir/gossip.key")
		echo "secured: a CA and node certificates in ${dir#"$root"/}/certs, a gossip key in ${dir#"$root"/}/gossip.key"
	fi
	printf 'EXAMPLE=%s\nN=%s\nBASE_PORT=%s\nTOKEN_SUM=%s\nSECURE=%s\n' "$EXAMPLE" "$N" "$BASE_PORT" "$TOKEN_SUM" "$SECURE" >"$state"
	for ((i = 1; i <= N; i++)); do start "$i"; done
	echo
	echo "mesh CLI: ${dir#"$root"/}/bin/mesh --addr $(all_admins) status"
	[ -z "$TOKEN_SUM" ] || echo "the admin endpoints require MESH_TOKEN: export it where you run the CLI"
	;;
status)
	[ $# -eq 1 ] || usage
	load
	need_token
	for ((i = 1; i <= N; i++)); do
		if running "$i"; then
			echo "node-$i   running   pid $(cat "$dir/node-$i.pid")   admin $(admin_addr "$i")"
		else
			echo "node-$i   stopped"
		fi
	done
	echo
	code=0
	"$dir/bin/mesh" --addr "$(all_admins)" status || code=$?
	echo
	"$dir/bin/mesh" --addr "$(all_admins)" peers || true
	exit $code
	;;
kill)
	[ $# -eq 2 ] || usage
	load
	i=$(index "$2")
	running "$i" || die "$2 is not running"
	kill -9 "$(cat "$dir/$2.pid")"
	echo "--- $(date '+%F %T') killed with SIGKILL" >>"$dir/$2.log"
	echo "$2 killed (SIGKILL)"
	;;
restart)
	[ $# -eq 2 ] || usage
	load
	need_token
	restart "$(index "$2")"
	;;
rolling)
	[ $# -eq 1 ] || usage
	load
	need_token
	for ((i = 1; i <= N; i++)); do
		restart "$i"
		healthy || die "the cluster is not healthy 30 s after node-$i restarted; see 'scripts/cluster.sh status'"
	done
	echo "every node restarted"
	;;
down)
	[ $# -eq 1 ] || usage
	load
	# One at a time: a node that leaves while its peers leave too has nobody
	# left to hear its goodbye.
	for ((i = N; i >= 1; i--)); do
		running "$i" || continue
		pid=$(cat "$dir/node-$i.pid")
		kill -TERM "$pid"
		for _ in $(seq 150); do running "$i" || break; sleep 0.1; done
		if running "$i"; then
			kill -9 "$pid"
			echo "node-$i killed: still running 15 s after SIGTERM"
		else
			echo "node-$i stopped"
		fi
	done
	rm -f "$dir"/node-*.pid "$state"
	echo "logs are kept in ${dir#"$root"/}"
	;;
*)
	usage
	;;
esac
