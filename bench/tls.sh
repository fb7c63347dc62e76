# bench/tls.sh: the HTTPS cases of bench/run (issue 14), sourced by it.
#
# vmsend --listen-tls against nginx `listen ... ssl` with the same ECDSA
# P-256 certificate, the same cipher (TLS 1.3 TLS_AES_128_GCM_SHA256), the
# same thread count, both on this machine, alternating within every
# repetition like the plain cases:
#
#   https hot 4 KiB / 64 KiB   wrk over TLS, 64 keep-alive connections, req/s
#   https hot 256 MiB          wrk over TLS, 4 connections, GB/s, and the
#                              server's CPU seconds per GB (utime + stime)
#   https cold large files     kernel caches dropped, vmsend restarted; 4 curl
#                              clients fetch the cold files once, GB/s
#   full / resumed handshakes  openssl s_time -new / -reuse, $THREADS clients
#                              in parallel, handshakes/s.  A TLS 1.3 ticket
#                              comes after the handshake, so a client that
#                              reads nothing never gets one and -reuse alone
#                              measures full handshakes: the resumed case
#                              GETs /hot/4k.bin on each connection (-www),
#                              and counts s_time's resumed marks; under 90%
#                              resumed is reported as no number
#   https h2 small / 64 KiB    h2load over TLS (ALPN h2; nginx `ssl http2`),
#                              4 connections x 100 streams, req/s
#
# Uses bench/run's helpers (median, paired, report, one_wrk, drop_caches,
# free_port, PIDS, ...) and its data set.

TLS_DIR=$TMP/tls
TLS_SUITE=TLS_AES_128_GCM_SHA256

tls_setup() {
	mkdir -p "$TLS_DIR"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$RAW/tls-cert.log" 2>&1 ||
		die "openssl cannot make the bench certificate"
	chmod 644 "$TLS_DIR/key.pem" # nginx workers run as nobody (bench-only key)
	TLS_NGINX_PORT=$(free_port)
	USED_PORTS+=" $TLS_NGINX_PORT"
	TLS_VMSEND_PORT=$(free_port)
	USED_PORTS+=" $TLS_VMSEND_PORT"
	nginx_conf "$TMP/nginx-tls.conf" "$TLS_NGINX_PORT" ""
	# The same server over TLS: listen ssl, the same cipher as vmsend picks, tickets on.
	# http2 too: h2load's ALPN gets it; wrk and s_time offer no ALPN and get HTTP/1.1.
	sed -i -e "s|listen 127.0.0.1:$TLS_NGINX_PORT;|listen 127.0.0.1:$TLS_NGINX_PORT ssl http2;\n\
        ssl_certificate $TLS_DIR/cert.pem;\n\
        ssl_certificate_key $TLS_DIR/key.pem;\n\
        ssl_protocols TLSv1.2 TLSv1.3;\n\
        ssl_conf_command Ciphersuites $TLS_SUITE;\n\
        ssl_session_tickets on;|" "$TMP/nginx-tls.conf"
	nginx -p "$TMP/nginx/" -c "$TMP/nginx-tls.conf" >>"$TMP/nginx/stdout.log" 2>&1 &
	TLS_NGINX_PID=$!
	PIDS+=("$TLS_NGINX_PID")
	tls_wait "$TLS_NGINX_PORT" "$TLS_NGINX_PID" || {
		cat "$TMP"/nginx/error-*.log >&2
		die "nginx (ssl) did not start on port $TLS_NGINX_PORT"
	}
	tls_vmsend_restart || true
}

tls_wait() { # port pid
	local i
	for i in $(seq 100); do
		kill -0 "$2" 2>/dev/null || return 1
		[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/hot/4k.bin")" = 200 ] &&
			return 0
		sleep 0.1
	done
	return 1
}

TLS_VMSEND_PID="" TLS_STARTS=0
tls_vmsend_restart() {
	[ "$HAVE_SERVE" = 1 ] || return 1
	stop_pid "$TLS_VMSEND_PID"
	TLS_VMSEND_PID=""
	TLS_STARTS=$((TLS_STARTS + 1))
	"$VMSEND" serve --allow-root --listen-tls "127.0.0.1:$TLS_VMSEND_PORT" --tls-cert "$TLS_DIR/cert.pem" \
		--tls-key "$TLS_DIR/key.pem" --root "$WWW" --threads "$THREADS" \
		--cache-size "$CACHE_SIZE" >"$RAW/vmsend-tls-$TLS_STARTS.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	if ! tls_wait "$TLS_VMSEND_PORT" "$pid"; then
		say "NOTE: vmsend serve --listen-tls did not come up (bench/results/tmp/$STAMP/vmsend-tls-$TLS_STARTS.log)"
		stop_pid "$pid"
		return 1
	fi
	TLS_VMSEND_PID=$pid
}
tls_vmsend_up() { [ -n "$TLS_VMSEND_PID" ] && kill -0 "$TLS_VMSEND_PID" 2>/dev/null; }

tls_warm() { # port path
	curl -sk -o /dev/null "https://127.0.0.1:$1$2" || true
}

# CPU seconds (user + system) of a process and its children threads/processes.
tls_cpu() { # pid -> seconds
	local pids="$1 $(pgrep -P "$1" | tr '\n' ' ')" p t=0
	for p in $pids; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
	done
	awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

tls_hot_case() { # name path conns secs unit key target [cpu]
	local name=$1 path=$2 conns=$3 secs=$4 unit=$5 key=$6 target=$7 cpu=${8:-}
	local nv=() vv=() ncpu=() vcpu=() run col side c0 v
	[ "$unit" = GB/s ] && col=2 || col=1
	tls_warm "$TLS_NGINX_PORT" "$path"
	tls_vmsend_up && tls_warm "$TLS_VMSEND_PORT" "$path"
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo nginx vmsend || echo vmsend nginx); do
			if [ "$side" = nginx ]; then
				c0=$(tls_cpu "$TLS_NGINX_PID")
				v=$(one_wrk nginx "https://127.0.0.1:$TLS_NGINX_PORT$path" "$conns" "$secs" \
					"tls-nginx-$key-$run" $col)
				nv+=("$v")
				[ -n "$cpu" ] && ncpu+=("$(tls_cpu_per_gb "$c0" "$(tls_cpu "$TLS_NGINX_PID")" "$v" "$secs")")
			elif tls_vmsend_up; then
				c0=$(tls_cpu "$TLS_VMSEND_PID")
				v=$(one_wrk vmsend "https://127.0.0.1:$TLS_VMSEND_PORT$path" "$conns" "$secs" \
					"tls-vmsend-$key-$run" $col)
				vv+=("$v")
				[ -n "$cpu" ] && vcpu+=("$(tls_cpu_per_gb "$c0" "$(tls_cpu "$TLS_VMSEND_PID")" "$v" "$secs")")
			else
				vv+=(x)
			fi
		done
	done
	report "$name" "$unit" "${nv[*]:-}" "${vv[*]:-}" "$target" "$key"
	if [ -n "$cpu" ]; then
		say "$(printf '%-28s nginx %6.2f s/GB   vmsend %6.2f s/GB   (server CPU seconds per GB sent)' \
			"https CPU per GB (256 MiB)" "$(median "${ncpu[@]}")" "$(median "${vcpu[@]:-x}")")"
	fi
}
tls_cpu_per_gb() { # cpu0 cpu1 gbps secs -> s/GB or x
	[ "$3" = x ] && echo x && return
	awk -v a="$1" -v b="$2" -v g="$3" -v s="$4" 'BEGIN { if (g * s > 0) printf "%.3f", (b - a) / (g * s); else print "x" }'
}

# 4 curl clients fetch the cold files once between them -> GB/s or x
tls_cold_stream() { # port tag
	local port=$1 i j pids=() t0 t1 bytes=0 f
	drop_caches
	t0=$(date +%s.%N)
	for i in 0 1 2 3; do
		(
			for j in $(seq "$i" 4 $((COLD_FILES - 1))); do
				curl -skf -o /dev/null "https://127.0.0.1:$port/cold/r$j.bin" || exit 1
			done
		) &
		pids+=($!)
	done
	local fail=0
	for i in "${pids[@]}"; do wait "$i" || fail=1; done
	t1=$(date +%s.%N)
	for f in "${COLD_FILES_FS[@]}"; do bytes=$((bytes + $(stat -c %s "$f"))); done
	[ $fail = 0 ] || {
		echo x
		return
	}
	awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.4f", b / (z - a) / 1e9 }' |
		tee "$RAW/tls-cold-$2.txt"
}

# $THREADS parallel `openssl s_time` clients -> handshakes/s or x
tls_handshakes() { # port mode(-new|-reuse) tag
	local i pids=() n=0 r=0 c secs=$HOT_SECS www=()
	[ "$2" = -reuse ] && www=(-www /hot/4k.bin)
	for i in $(seq "$THREADS"); do
		openssl s_time -connect "127.0.0.1:$1" "$2" "${www[@]}" -time "$secs" \
			-ciphersuites "$TLS_SUITE" >"$RAW/tls-stime-$3-$i.txt" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq "$THREADS"); do
		c=$(awk '/connections in .* real seconds/ { print $1; exit }' "$RAW/tls-stime-$3-$i.txt")
		[ -n "$c" ] || {
			echo x
			return
		}
		n=$((n + c))
		# s_time prints one mark per connection: '*' new, 'r' resumed (its only r-lines).
		r=$((r + $(awk '/^[*r]+$/' "$RAW/tls-stime-$3-$i.txt" | tr -cd r | wc -c)))
	done
	if [ "$2" = -reuse ] && [ $((r * 10)) -lt $((n * 9)) ]; then
		say "NOTE: $3: only $r of $n connections resumed" >&2
		echo x
		return
	fi
	awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }'
}

tls_hs_case() { # name mode key target
	local nv=() vv=() run side
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo nginx vmsend || echo vmsend nginx); do
			if [ "$side" = nginx ]; then
				nv+=("$(tls_handshakes "$TLS_NGINX_PORT" "$2" "nginx-$3-$run")")
			elif tls_vmsend_up; then
				vv+=("$(tls_handshakes "$TLS_VMSEND_PORT" "$2" "vmsend-$3-$run")")
			else
				vv+=(x)
			fi
		done
	done
	report "$1" hs/s "${nv[*]:-}" "${vv[*]:-}" "$4" "$3"
}

# HTTP/2 over TLS (ALPN h2), as browsers reach it: h2load against both (bench/h2.sh's h2load_run).
tls_h2_case() { # name nginx-src vmsend-src conns streams secs unit key target
	local nv=() vv=() run side col r
	[ "$7" = GB/s ] && col=2 || col=1
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo nginx vmsend || echo vmsend nginx); do
			if [ "$side" = nginx ]; then
				r=$(h2load_run "$2" "$4" "$5" "$6" "tls-nginx-$8-$run")
				[ "$r" = x ] && nv+=(x) || nv+=("$(echo "$r" | cut -d' ' -f$col)")
			elif tls_vmsend_up; then
				r=$(h2load_run "$3" "$4" "$5" "$6" "tls-vmsend-$8-$run")
				[ "$r" = x ] && vv+=(x) || vv+=("$(echo "$r" | cut -d' ' -f$col)")
			else
				vv+=(x)
			fi
		done
	done
	report "$1" "$7" "${nv[*]:-}" "${vv[*]:-}" "$9" "$8"
}

tls_h2_cases() {
	if ! command -v h2load >/dev/null; then
		say "$(printf '%-28s %s' "https h2" "skipped: h2load missing (scripts/deps.sh)")"
		return
	fi
	local n=https://127.0.0.1:$TLS_NGINX_PORT v=https://127.0.0.1:$TLS_VMSEND_PORT i
	mkdir -p "$WWW/h2"
	h2_small_uris "$n" "$RAW/tls-h2-small-uris.n"
	h2_small_uris "$v" "$RAW/tls-h2-small-uris.v"
	for i in $(seq 0 199); do
		tls_warm "$TLS_NGINX_PORT" "/h2/s$i.bin"
		tls_vmsend_up && tls_warm "$TLS_VMSEND_PORT" "/h2/s$i.bin"
	done
	tls_h2_case "https h2 small files (4x100)" "$RAW/tls-h2-small-uris.n" "$RAW/tls-h2-small-uris.v" \
		4 100 "$HOT_SECS" req/s https-h2-small 1.3
	tls_h2_case "https h2 64 KiB (4x100)" "$n/hot/64k.bin" "$v/hot/64k.bin" 4 100 "$HOT_SECS" \
		req/s https-h2-64KiB 1.3
}

tls_cases() {
	log "https cases"
	tls_setup
	say "HTTPS: TLS 1.3 $TLS_SUITE, ECDSA P-256, $THREADS threads each; vmsend: $(grep -o 'TLS: [^:]*' "$RAW/vmsend-tls-1.log" | head -1)"
	tls_hot_case "https hot 4 KiB (64 conns)" /hot/4k.bin 64 "$HOT_SECS" req/s https-hot-4KiB 1.2
	tls_hot_case "https hot 64 KiB (64 conns)" /hot/64k.bin 64 "$HOT_SECS" req/s https-hot-64KiB 1.3
	tls_hot_case "https hot 256 MiB (4 conns)" /hot/256m.bin 4 "$BIG_SECS" GB/s https-hot-256MiB 1.3 cpu
	tls_h2_cases
	tls_hs_case "https full handshakes" -new https-hs-full 1.0
	tls_hs_case "https resumed handshakes" -reuse https-hs-resumed 1.0
	local cnv=() cvv=() run side
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo nginx vmsend || echo vmsend nginx); do
			if [ "$side" = nginx ]; then
				cnv+=("$(tls_cold_stream "$TLS_NGINX_PORT" "nginx-$run")")
			elif tls_vmsend_restart; then
				cvv+=("$(tls_cold_stream "$TLS_VMSEND_PORT" "vmsend-$run")")
			else
				cvv+=(x)
			fi
		done
	done
	report "https cold large files (4)" GB/s "${cnv[*]:-}" "${cvv[*]:-}" 1.0 https-cold-large
	stop_pid "$TLS_VMSEND_PID"
	TLS_VMSEND_PID=""
	stop_pid "$TLS_NGINX_PID"
}
