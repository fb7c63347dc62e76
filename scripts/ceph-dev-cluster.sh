#!/usr/bin/env bash
# A throw-away single-node Ceph cluster for the RADOS tests and benchmarks:
# one monitor and one memstore OSD on 127.0.0.1, pool size 1, no manager.
#
#   scripts/ceph-dev-cluster.sh start DIR [--cephx] [--bluestore] [--pool NAME]...
#   scripts/ceph-dev-cluster.sh stop DIR
#   scripts/ceph-dev-cluster.sh osd-stop DIR | osd-start DIR    (restart the OSD)
#   scripts/ceph-dev-cluster.sh osd-freeze DIR | osd-thaw DIR   (SIGSTOP/SIGCONT: fault tests)
#   scripts/ceph-dev-cluster.sh osd-kill DIR                    (kill -9; then osd-start)
#
# start writes DIR/ceph.conf (give it to `vmsend ... --ceph-conf`, `rados -c`,
# `ceph -c`), DIR/env (CEPH_CONF=...) and creates each --pool (default:
# "vmsend").  Auth is off unless --cephx: then DIR/ceph.conf names
# DIR/client.admin.keyring and only clients holding that key get in.
# stop kills the daemons by their pidfiles (TERM, then KILL after 10 s) and
# removes DIR.  Nothing listens beyond 127.0.0.1; the monitor's port is
# picked free at start.  Data lives in the OSD's memory (memstore); a stopped
# and restarted OSD came back here with its placement groups lost (ops queued
# forever), so the fault tests take the OSD away with osd-freeze (SIGSTOP: it
# answers nothing, clients time out) and bring it back with osd-thaw.  With
# --bluestore the OSD keeps its data in a sparse 1 GiB file in DIR/osd.0
# (~13 s to start here, against ~8 s for memstore) and survives osd-kill +
# osd-start (~7 s until it serves reads again).
set -euo pipefail

die() {
	echo "ceph-dev-cluster: $*" >&2
	exit 1
}

need() {
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 ||
			die "$b is missing (Debian packages ceph-mon ceph-osd ceph-common; scripts/deps.sh rados)"
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until a pidfile's process is gone (up to $2 tenths of a second); 0 if gone.
wait_gone() {
	local pid=$1 n=$2
	while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	! kill -0 "$pid" 2>/dev/null
}

stop_daemon() {
	local pidfile=$1 pid
	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 100 || {
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 50 || true
		}
	fi
	rm -f "$pidfile"
}

osd_start() {
	local dir=$1
	# A busy monitor can refuse the OSD's first commands (EPERM at init): retry.
	local end=$((SECONDS + 30))
	until ceph-osd -c "$dir/ceph.conf" -i 0 2>>"$dir/log/osd-start.log"; do
		[ $SECONDS -lt $end ] || die "ceph-osd did not start (see $dir/log/osd.0.log)"
		sleep 1
	done
	# Up and in: wait (30 s at most) until the monitor has the OSD marked up.
	end=$((SECONDS + 30))
	until ceph -c "$dir/ceph.conf" osd dump 2>/dev/null | grep -q '^osd.0 up'; do
		[ $SECONDS -lt $end ] || die "osd.0 did not come up (see $dir/log/osd.0.log)"
		sleep 0.2
	done
}

start() {
	local dir=$1
	shift
	local cephx=0 store=memstore pools=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--cephx) cephx=1 ;;
		--bluestore) store=bluestore ;;
		--pool)
			shift
			pools+=("$1")
			;;
		*) die "unknown flag $1" ;;
		esac
		shift
	done
	[ ${#pools[@]} -gt 0 ] || pools=(vmsend)
	need ceph-mon ceph-osd ceph monmaptool ceph-authtool uuidgen python3
	# A cluster left by a killed run: stop its daemons (by pidfile) first.
	[ ! -e "$dir/ceph.conf" ] || stop "$dir"
	mkdir -p "$dir"/{run,log,mon.a,osd.0}
	dir=$(cd "$dir" && pwd)
	local fsid port auth
	fsid=$(uuidgen)
	port=$(free_port)
	auth=none
	[ "$cephx" = 1 ] && auth=cephx
	cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = $auth
auth service required = $auth
auth client required = $auth
keyring = $dir/\$name.keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
[mon]
mon data = $dir/mon.\$id
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd.\$id
osd objectstore = $store
memstore device bytes = 2147483648
osd max object size = 134217728
osd op threads = 2
osd op num shards = 1
osd op num threads per shard = 2
EOF
	if [ "$store" = bluestore ]; then
		# A sparse 1 GiB file in the OSD's directory: survives a kill -9 and restart.
		cat >>"$dir/ceph.conf" <<EOF
bluestore block create = true
bluestore block size = 1073741824
bluestore fsck on mount = false
bluestore cache size = 67108864
EOF
	else
		echo "bluestore block create = false" >>"$dir/ceph.conf"
	fi
	# Keys exist even with auth off (mkfs wants them); with --cephx they matter.
	ceph-authtool --create-keyring "$dir/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	ceph-authtool "$dir/mon.a.keyring" --import-keyring "$dir/client.admin.keyring" >/dev/null
	monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$dir/monmap" >/dev/null
	ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.a.keyring" ||
		die "ceph-mon --mkfs failed"
	ceph-mon -c "$dir/ceph.conf" -i a || die "ceph-mon did not start (see $dir/log/mon.a.log)"
	local osdid
	# With the OSD's uuid the create is idempotent, so a settling monitor can be retried.
	local osduuid end=$((SECONDS + 30))
	osduuid=$(uuidgen)
	until osdid=$(ceph -c "$dir/ceph.conf" osd create "$osduuid" 2>"$dir/log/osd-create.log"); do
		[ $SECONDS -lt $end ] || die "ceph osd create failed: $(cat "$dir/log/osd-create.log")"
		sleep 0.5
	done
	[ "$osdid" = 0 ] || die "osd create gave id $osdid, want 0"
	if [ "$cephx" = 1 ]; then
		ceph -c "$dir/ceph.conf" auth get-or-create osd.0 mon 'allow profile osd' \
			osd 'allow *' -o "$dir/osd.0.keyring" >/dev/null
	else
		: >"$dir/osd.0.keyring"
	fi
	ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osduuid" >"$dir/log/osd-mkfs.log" 2>&1 ||
		die "ceph-osd --mkfs failed (see $dir/log/osd-mkfs.log)"
	osd_start "$dir"
	for p in "${pools[@]}"; do
		# The monitor may still be settling (EPERM on command descriptions): retry.
		local end=$((SECONDS + 30))
		until ceph -c "$dir/ceph.conf" osd pool create "$p" 8 8 >"$dir/log/pool.log" 2>&1; do
			[ $SECONDS -lt $end ] || die "cannot create pool $p: $(cat "$dir/log/pool.log")"
			sleep 0.5
		done
	done
	# Writes succeed once the pool's placement groups are active.
	local end=$((SECONDS + 30))
	until timeout 10 rados -c "$dir/ceph.conf" -p "${pools[0]}" put .ready /dev/null 2>/dev/null; do
		[ $SECONDS -lt $end ] || die "pool ${pools[0]} never became writable (see $dir/log)"
		sleep 0.2
	done
	rados -c "$dir/ceph.conf" -p "${pools[0]}" rm .ready
	echo "CEPH_CONF=$dir/ceph.conf" >"$dir/env"
	echo "ceph-dev-cluster: up in $dir (mon 127.0.0.1:$port, auth $auth, pools ${pools[*]})"
}

stop() {
	local dir=$1
	[ -d "$dir" ] || return 0
	stop_daemon "$dir/run/osd.0.pid"
	stop_daemon "$dir/run/mon.a.pid"
	rm -rf "$dir"
}

case "${1:-}" in
start)
	[ $# -ge 2 ] || die "usage: $0 start DIR [--cephx] [--bluestore] [--pool NAME]..."
	t0=$(date +%s.%N)
	start "${@:2}"
	echo "ceph-dev-cluster: start took $(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))") s"
	;;
stop)
	[ $# -eq 2 ] || die "usage: $0 stop DIR"
	stop "$2"
	;;
osd-stop)
	[ $# -eq 2 ] || die "usage: $0 osd-stop DIR"
	stop_daemon "$2/run/osd.0.pid"
	;;
osd-start)
	[ $# -eq 2 ] || die "usage: $0 osd-start DIR"
	osd_start "$2"
	;;
osd-kill)
	[ $# -eq 2 ] && [ -s "$2/run/osd.0.pid" ] || die "usage: $0 osd-kill DIR (with a running OSD)"
	pid=$(cat "$2/run/osd.0.pid")
	kill -KILL "$pid"
	wait_gone "$pid" 100 || die "osd.0 ($pid) survived kill -9"
	rm -f "$2/run/osd.0.pid"
	;;
osd-freeze | osd-thaw)
	[ $# -eq 2 ] && [ -s "$2/run/osd.0.pid" ] || die "usage: $0 $1 DIR (with a running OSD)"
	kill "-$([ "$1" = osd-freeze ] && echo STOP || echo CONT)" "$(cat "$2/run/osd.0.pid")"
	;;
*)
	die "usage: $0 start|stop|osd-stop|osd-start|osd-kill|osd-freeze|osd-thaw DIR"
	;;
esac
