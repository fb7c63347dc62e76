#!/usr/bin/env bash
# tests/soak/run.sh: a minute of abuse for a running vmsend (issue 9, part 5).
#
#   tests/soak/run.sh [--seconds N] [--conns N] [--cache-size SIZE] [--threads N] VMSEND_BINARY
#   tests/soak/run.sh --nginx            (the same soak against nginx: checks the harness)
#   tests/soak/run.sh --h2 VMSEND_BINARY (HTTP/2 too: the server runs with --h2c, h2load adds
#                                         100-stream connections, tests/soak/abuse_h2.py adds
#                                         rapid resets, floods, zero-window stalls, resets
#                                         mid-body, and the probe alternates HTTP/1.1 and h2c)
#   --tls: the same over HTTPS (--listen-tls, a P-256 certificate made now;
#          nginx: listen ssl); the abuse clients then speak plain TCP to the
#          TLS port (garbage, byte-a-second and idle handshakes)
#
# Starts `vmsend serve` on 127.0.0.1 over a small generated data set, then at
# the same time:
#   * wrk with --conns (1,000) keep-alive connections requesting 4 KiB,
#     64 KiB and 1 MiB files for --seconds (60);
#   * tests/soak/abuse.py: clients sending a byte a second, pipelining a
#     large file and never reading, sending garbage, and idling;
#   * a probe that fetches a file every 2 s and checks its bytes.
# Then checks, and exits 1 if any fails:
#   * zero errors on well-formed requests (wrk socket errors and non-2xx,
#     failed probes);
#   * the server is still alive and serves every file byte-exact;
#   * RSS after <= --cache-size + 64 MiB (what the cache may hold plus a
#     small constant for threads, rings and buffers); with --tls, plus the
#     sealer's record region (tls_buffer_mem, 32 MiB, kept once faulted in);
#   * RSS peak <= the same, plus, with --tls, 48 KiB per connection for
#     what TLS holds while it is open (OpenSSL's state, about 13 KiB by
#     heaptrack, the input buffers and a sealed run in flight; nginx's
#     RSS grows by 44 KiB per connection in this soak);
#   * open fds back to within 16 of the count before, once the clients are
#     gone (a leaked connection or file would stay).
# Loopback only, bounded in time (every client has a deadline, the whole run
# a timeout), and everything it started is stopped on exit, failure too.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=60
CONNS=1000
CACHE_SIZE=256M
THREADS=2
USE_NGINX=0
H2=0
TLS=0
BIN=""
RSS_SLACK_KIB=$((64 * 1024))
TLS_REGION=$((32 << 20)) # tls_buffer_mem, set so: the bound counts it
TLS_CONN_KIB=48
FD_SLACK=16

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_RUN=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--cache-size) CACHE_SIZE=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--nginx) USE_NGINX=1 ;;
	--h2) H2=1 ;;
	--tls) TLS=1 ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "soak: unknown option $1" >&2; exit 2 ;;
	*) BIN=$1 ;;
	esac
	shift
done

say() { echo "soak: $*"; }
FAILED=0
fail() {
	say "FAIL: $*"
	FAILED=1
}

if [ "$USE_NGINX" = 0 ]; then
	# The Makefile passes build/release/src/vmsend; the binary is built in src/cli/.
	if [ -n "$BIN" ] && [ ! -x "$BIN" ] && [ -x "$(dirname "$BIN")/cli/vmsend" ]; then
		BIN=$(dirname "$BIN")/cli/vmsend
	fi
	if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
		say "usage: tests/soak/run.sh VMSEND_BINARY (got '${BIN}')" >&2
		exit 2
	fi
	if ! grep -qE '^ +serve( |$)' <<<"$("$BIN" --help 2>&1)"; then
		say "vmsend serve not available in $BIN: nothing to soak"
		exit 1
	fi
fi
command -v wrk >/dev/null || "$ROOT/scripts/deps.sh" bench
command -v wrk >/dev/null || { say "wrk is not installed"; exit 1; }
[ "$USE_NGINX" = 0 ] || command -v nginx >/dev/null || { say "nginx is not installed"; exit 1; }
if [ "$H2" = 1 ]; then
	[ "$USE_NGINX" = 0 ] || { say "--h2 soaks vmsend only"; exit 2; }
	command -v h2load >/dev/null && /usr/bin/python3 -c 'import hpack, hyperframe' 2>/dev/null ||
		"$ROOT/scripts/deps.sh"
	command -v h2load >/dev/null || { say "h2load (nghttp2-client) is not installed"; exit 1; }
fi

# 1,000 connections on each side of loopback, plus files and rings.
want_fds=$((CONNS * 2 + 4096))
if [ "$(ulimit -n)" -lt "$want_fds" ]; then
	ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
say "open-file limit $(ulimit -n)"

PIDS=()
TMP=$(mktemp -d /var/tmp/vmsend-soak.XXXXXX) || exit 1
chmod 755 "$TMP"
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- data

WWW=$TMP/www
mkdir -p "$WWW"
head -c 4096 /dev/urandom >"$WWW/4k.bin"
head -c 65536 /dev/urandom >"$WWW/64k.bin"
head -c 1048576 /dev/urandom >"$WWW/1m.bin"
head -c $((32 << 20)) /dev/urandom >"$WWW/big.bin"
FILES=(4k.bin 64k.bin 1m.bin big.bin)

SCHEME=http CURL_TLS=() NGINX_SSL="" VMSEND_LISTEN=--listen
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
		-out "$TMP/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1 ||
		{ say "openssl cannot make a certificate"; exit 1; }
	chmod 644 "$TMP/key.pem" # test-only key; nginx workers run as nobody
	SCHEME=https CURL_TLS=(-k) VMSEND_LISTEN=--listen-tls
	NGINX_SSL="ssl; ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem"
fi

PORT=""
for _ in $(seq 200); do
	p=$((10000 + RANDOM % ($(cut -f1 /proc/sys/net/ipv4/ip_local_port_range) - 10000))) # below the ephemeral range: no client socket can hold it
	ss -Htln "sport = :$p" | grep -q . || {
		PORT=$p
		break
	}
done
[ -n "$PORT" ] || { say "no free port"; exit 1; }

# ---------------------------------------------------------------- server

SERVER_PIDS=() # the processes whose RSS and fds are measured
if [ "$USE_NGINX" = 1 ]; then
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx.conf" <<EOF
worker_processes $THREADS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile $want_fds;
events { worker_connections $want_fds; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server { listen 127.0.0.1:$PORT $NGINX_SSL; root $WWW; }
}
EOF
	nginx -p "$TMP/nginx/" -c "$TMP/nginx.conf" >"$TMP/server.log" 2>&1 &
	SERVER=$!
	NAME=nginx
else
	H2FLAG=()
	[ "$H2" = 1 ] && H2FLAG=(--h2c --send-timeout 5)
	tls_args=()
	[ "$TLS" = 1 ] && tls_args=(--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
		--set "tls_buffer_mem=$TLS_REGION")
	"$BIN" serve "$VMSEND_LISTEN" "127.0.0.1:$PORT" "${tls_args[@]}" --root "$WWW" \
		--threads "$THREADS" --cache-size "$CACHE_SIZE" --allow-root "${H2FLAG[@]}" \
		>"$TMP/server.log" 2>&1 &
	SERVER=$!
	NAME=vmsend
fi
PIDS+=("$SERVER")

up=0
for _ in $(seq 100); do
	kill -0 "$SERVER" 2>/dev/null || break
	[ "$(curl -s "${CURL_TLS[@]}" -o /dev/null -w '%{http_code}' "$SCHEME://127.0.0.1:$PORT/4k.bin")" = 200 ] && up=1 && break
	sleep 0.1
done
if [ "$up" = 0 ]; then
	say "$NAME did not come up on 127.0.0.1:$PORT:"
	tail -20 "$TMP/server.log"
	exit 1
fi
if [ "$USE_NGINX" = 1 ]; then
	mapfile -t workers < <(pgrep -P "$SERVER")
	SERVER_PIDS=("$SERVER" "${workers[@]}")
else
	SERVER_PIDS=("$SERVER")
fi

rss_kib() { # total VmRSS of the server processes
	local p t=0 v
	for p in "${SERVER_PIDS[@]}"; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
fd_count() {
	local p t=0
	for p in "${SERVER_PIDS[@]}"; do
		t=$((t + $(ls "/proc/$p/fd" 2>/dev/null | wc -l)))
	done
	echo "$t"
}
to_kib() { # 256M -> KiB
	numfmt --from=iec "$1" | awk '{ printf "%d", $1 / 1024 }'
}

check_files() { # -> number of files whose bytes differ
	local f bad=0
	for f in "${FILES[@]}"; do
		if ! curl -s "${CURL_TLS[@]}" --max-time 20 "$SCHEME://127.0.0.1:$PORT/$f" | cmp -s - "$WWW/$f"; then
			say "file $f: bytes differ or request failed"
			bad=$((bad + 1))
		fi
	done
	return "$bad"
}

check_files || fail "files not served byte-exact before the soak"
RSS0=$(rss_kib)
FD0=$(fd_count)
say "$NAME pid ${SERVER_PIDS[*]} on 127.0.0.1:$PORT: RSS ${RSS0} KiB, fds $FD0 before the soak"

# ---------------------------------------------------------------- load

cat >"$TMP/mix.lua" <<'EOF'
-- Each connection walks the small files in turn, starting at a different one.
local paths = { "/4k.bin", "/64k.bin", "/4k.bin", "/1m.bin" }
local n = 0
function setup(thread) end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
EOF

WRK_THREADS=$THREADS
timeout $((SECONDS_RUN + 30)) wrk -t "$WRK_THREADS" -c "$CONNS" -d "${SECONDS_RUN}s" --timeout 10s \
	-s "$TMP/mix.lua" "$SCHEME://127.0.0.1:$PORT" >"$TMP/wrk.txt" 2>&1 &
WRK=$!
PIDS+=("$WRK")
timeout $((SECONDS_RUN + 30)) python3 "$ROOT/tests/soak/abuse.py" --port "$PORT" \
	--seconds "$SECONDS_RUN" --big /big.bin >"$TMP/abuse.txt" 2>&1 &
ABUSE=$!
PIDS+=("$ABUSE")
if [ "$H2" = 1 ]; then
	for f in 4k.bin 64k.bin 4k.bin 1m.bin; do echo "http://127.0.0.1:$PORT/$f"; done >"$TMP/h2uris"
	timeout $((SECONDS_RUN + 30)) h2load -t "$THREADS" -c 20 -m 100 -D "$SECONDS_RUN" \
		-i "$TMP/h2uris" >"$TMP/h2load.txt" 2>&1 &
	H2LOAD=$!
	PIDS+=("$H2LOAD")
	timeout $((SECONDS_RUN + 60)) /usr/bin/python3 "$ROOT/tests/soak/abuse_h2.py" --port "$PORT" \
		--seconds "$SECONDS_RUN" --big /big.bin >"$TMP/abuse_h2.txt" 2>&1 &
	ABUSE_H2=$!
	PIDS+=("$ABUSE_H2")
fi

PROBES=0 PROBE_FAIL=0 RSS_PEAK=$RSS0 FD_PEAK=$FD0
end=$((SECONDS + SECONDS_RUN))
while [ "$SECONDS" -lt "$end" ]; do
	sleep 2
	kill -0 "$SERVER" 2>/dev/null || break
	PROBES=$((PROBES + 1))
	proto=()
	[ "$H2" = 1 ] && [ $((PROBES % 2)) = 0 ] && proto=(--http2-prior-knowledge)
	curl -s "${CURL_TLS[@]}" "${proto[@]}" --max-time 10 "$SCHEME://127.0.0.1:$PORT/64k.bin" | cmp -s - "$WWW/64k.bin" ||
		PROBE_FAIL=$((PROBE_FAIL + 1))
	r=$(rss_kib)
	f=$(fd_count)
	[ "$r" -gt "$RSS_PEAK" ] && RSS_PEAK=$r
	[ "$f" -gt "$FD_PEAK" ] && FD_PEAK=$f
done
wait "$WRK"
wait "$ABUSE"
if [ "$H2" = 1 ]; then
	wait "$H2LOAD"
	wait "$ABUSE_H2"
fi

# ---------------------------------------------------------------- verdict

cat "$TMP/wrk.txt"
tail -1 "$TMP/abuse.txt"

if ! kill -0 "$SERVER" 2>/dev/null; then
	fail "$NAME died during the soak; its log ends:"
	tail -30 "$TMP/server.log"
	exit 1
fi

WRK_REQS=$(awk '/requests in/ { print $1 }' "$TMP/wrk.txt")
WRK_ERRS=$(awk '/Socket errors:/ { gsub(",", ""); e += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { e += $5 } END { print e + 0 }' "$TMP/wrk.txt")
[ -n "$WRK_REQS" ] || fail "wrk did not run (see above)"
[ "$WRK_ERRS" = 0 ] || fail "$WRK_ERRS errors on well-formed requests (wrk)"
[ "$PROBE_FAIL" = 0 ] || fail "$PROBE_FAIL of $PROBES probes failed or got wrong bytes"
if [ "$H2" = 1 ]; then
	grep -E "^(finished|requests|status codes)" "$TMP/h2load.txt"
	tail -1 "$TMP/abuse_h2.txt"
	H2_OK=$(awk '/^requests:/ { print $8 }' "$TMP/h2load.txt")
	H2_BAD=$(awk '/^requests:/ { print $10 + $12 }' "$TMP/h2load.txt")
	[ -n "$H2_OK" ] && [ "$H2_OK" -gt 0 ] || fail "h2load did not run (see $TMP/h2load.txt)"
	[ "${H2_BAD:-1}" = 0 ] || fail "$H2_BAD failed or errored HTTP/2 requests (h2load)"
	grep -q "goaway_11=" "$TMP/abuse_h2.txt" || fail "no abusive HTTP/2 client got GOAWAY(ENHANCE_YOUR_CALM)"
fi

# Give the server a moment to notice the clients are gone.
FD1=$(fd_count)
for _ in $(seq 20); do
	[ "$FD1" -le $((FD0 + FD_SLACK)) ] && break
	sleep 0.5
	FD1=$(fd_count)
done
check_files || fail "files not served byte-exact after the soak"
RSS1=$(rss_kib)
FD1=$(fd_count)

say "requests ${WRK_REQS:-0}, errors on well-formed requests $WRK_ERRS, probes $PROBES (failed $PROBE_FAIL)"
say "RSS before ${RSS0} KiB, peak ${RSS_PEAK} KiB, after ${RSS1} KiB"
say "fds before $FD0, peak $FD_PEAK, after $FD1"
if [ "$USE_NGINX" = 0 ]; then
	limit=$(($(to_kib "$CACHE_SIZE") + RSS_SLACK_KIB))
	what="cache $CACHE_SIZE + 64 MiB"
	if [ "$TLS" = 1 ]; then
		limit=$((limit + TLS_REGION / 1024))
		what="$what + TLS region $((TLS_REGION >> 20)) MiB"
	fi
	[ "$RSS1" -le "$limit" ] || fail "RSS after ${RSS1} KiB > $what (${limit} KiB)"
	if [ "$TLS" = 1 ]; then
		limit=$((limit + CONNS * TLS_CONN_KIB))
		what="$what + $CONNS x $TLS_CONN_KIB KiB"
	fi
	[ "$RSS_PEAK" -le "$limit" ] || fail "RSS peak ${RSS_PEAK} KiB > $what (${limit} KiB)"
fi
[ "$FD1" -le $((FD0 + FD_SLACK)) ] || fail "fds after $FD1 > before $FD0 + $FD_SLACK: descriptors leaked"

if [ "$FAILED" = 0 ]; then
	say "PASS ($NAME, $CONNS connections, $SECONDS_RUN s)"
	exit 0
fi
say "FAILED ($NAME); server log: last lines"
tail -10 "$TMP/server.log"
exit 1
