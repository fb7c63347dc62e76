# bench/h2.sh: the HTTP/2 section of bench/run (sourced by it; issue 18).
#
# vmsend --h2c against nginx `listen ... http2` (h2c with prior knowledge,
# the same files, workers and threads), both started here on their own
# ports and stopped at the end:
#
#   h2 small files     h2load, 4 connections x 100 streams, 200 files of 4 KiB, req/s
#   h2 64 KiB          h2load, 4 connections x 100 streams, req/s
#   h2 large file      h2load, 1 connection, the 256 MiB file, GB/s
#   h2 hot beside cold one connection: hot 4 KiB GETs one at a time (bench/h2mix.py),
#                      p99 alone and while cold files stream on the same
#                      connection (kernel caches dropped, vmsend restarted)
#
# Uses bench/run's helpers (say, report, paired, spread, fmt, free_port,
# nginx_conf, start_nginx, stop_pid, drop_caches) and its data set ($WWW).

# h2load_run url-or-file conns streams secs tag -> "rps gbps" or x
h2load_run() {
	local out=$RAW/h2load-$5.txt src=("$1")
	local t=$THREADS
	[ -f "$1" ] && src=(-i "$1")
	[ "$2" -lt "$t" ] && t=$2
	h2load -t "$t" -c "$2" -m "$3" -D "$4" --warm-up-time 1 "${src[@]}" >"$out" 2>&1 || true
	awk '
	/^finished in/ { rps = $4; v = $6; sub(/,$/, "", v); m = 1
		if (v ~ /GB\/s$/) m = 1; else if (v ~ /MB\/s$/) m = 1e-3; else if (v ~ /KB\/s$/) m = 1e-6; else m = 1e-9
		sub(/[KMG]?B\/s$/, "", v); gbps = v * m }
	/^requests:/ { failed = $10 + $12 }
	END { if (rps == "" || failed > 0) print "x"; else printf "%s %.4f\n", rps, gbps }' "$out"
}

# h2_small_uris base out: 200 files of 4 KiB under $WWW/h2 (made once), one URI per line
h2_small_uris() {
	local i
	: >"$2"
	for i in $(seq 0 199); do
		[ -f "$WWW/h2/s$i.bin" ] || "$TOOLS/bench_gendata" "$WWW/h2/s$i.bin" 4K random $((300 + i)) >/dev/null
		echo "$1/h2/s$i.bin" >>"$2"
	done
}

h2_bench() {
	if ! command -v h2load >/dev/null || ! /usr/bin/python3 -c 'import hpack, hyperframe' 2>/dev/null; then
		say "$(printf '%-28s %s' "HTTP/2" "skipped: h2load or python3-h2 missing (scripts/deps.sh)")"
		return
	fi
	local port nport npid vpid run side i list key col
	mkdir -p "$WWW/h2"
	list=$RAW/h2-small-uris
	nport=$(free_port)
	USED_PORTS+=" $nport"
	port=$(free_port)
	USED_PORTS+=" $port"
	h2_small_uris "http://127.0.0.1:$nport" "$list.n"
	h2_small_uris "http://127.0.0.1:$port" "$list.v"
	nginx_conf "$TMP/nginx-h2.conf" "$nport" ""
	sed -i "s|listen 127.0.0.1:$nport;|listen 127.0.0.1:$nport http2;|" "$TMP/nginx-h2.conf"
	nginx -p "$TMP/nginx/" -c "$TMP/nginx-h2.conf" >>"$TMP/nginx/stdout.log" 2>&1 &
	npid=$!
	PIDS+=("$npid")
	h2_vmsend() { # (re)start vmsend --h2c: a fresh process has an empty cache
		stop_pid "${vpid:-}"
		vpid=""
		"$VMSEND" serve --h2c --allow-root --listen "127.0.0.1:$port" --root "$WWW" --threads "$THREADS" \
			--cache-size "$CACHE_SIZE" >>"$RAW/vmsend-h2.log" 2>&1 &
		local pid=$!
		PIDS+=("$pid")
		wait_http "$port" /hot/4k.bin "$pid" && vpid=$pid
	}
	h2_vmsend
	sleep 0.5
	if [ -z "$vpid" ] || ! kill -0 "$npid" 2>/dev/null; then
		say "$(printf '%-28s %s' "HTTP/2" "nginx http2 or vmsend --h2c did not start (bench/results/tmp/$STAMP)")"
		stop_pid "$npid"
		stop_pid "$vpid"
		return
	fi

	h2_case() { # name nginx-src vmsend-src conns streams secs unit key target
		local nv=() vv=() r
		[ "$7" = GB/s ] && col=2 || col=1
		for run in $(seq "$RUNS"); do
			for side in $([ $((run % 2)) = 1 ] && echo nginx vmsend || echo vmsend nginx); do
				if [ $side = nginx ]; then
					r=$(h2load_run "$2" "$4" "$5" "$6" "nginx-$8-$run")
					[ "$r" = x ] && nv+=(x) || nv+=("$(echo "$r" | cut -d' ' -f$col)")
				else
					r=$(h2load_run "$3" "$4" "$5" "$6" "vmsend-$8-$run")
					[ "$r" = x ] && vv+=(x) || vv+=("$(echo "$r" | cut -d' ' -f$col)")
				fi
			done
		done
		if [ -n "$9" ]; then
			report "$1" "$7" "${nv[*]}" "${vv[*]}" "$9" "$8"
		else
			local p
			p=$(paired "${vv[*]}" "${nv[*]}")
			say "$(printf '%-28s nginx %s   vmsend %s   vmsend/nginx = %s%s' "$1" \
				"$(fmt "$(median "${nv[@]}")" "$7")" "$(fmt "$(median "${vv[@]}")" "$7")" \
				"${p%% *}" "$(spread "$p")")"
		fi
	}
	h2_warm() { # port path...: nginx's http2 listener speaks only HTTP/2
		local pt=$1 pa
		shift
		for pa in "$@"; do curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$pt$pa" || true; done
	}
	log "HTTP/2 cases"
	for i in $(seq 0 199); do h2_warm "$nport" "/h2/s$i.bin"; h2_warm "$port" "/h2/s$i.bin"; done
	h2_warm "$nport" /hot/64k.bin /hot/256m.bin
	h2_warm "$port" /hot/64k.bin /hot/256m.bin
	h2_case "h2 small files (4x100)" "$list.n" "$list.v" 4 100 "$HOT_SECS" req/s h2-small 1.3
	h2_case "h2 64 KiB (4x100)" "http://127.0.0.1:$nport/hot/64k.bin" \
		"http://127.0.0.1:$port/hot/64k.bin" 4 100 "$HOT_SECS" req/s h2-64KiB 1.3
	h2_case "h2 large file (1 conn)" "http://127.0.0.1:$nport/hot/256m.bin" \
		"http://127.0.0.1:$port/hot/256m.bin" 1 1 "$BIG_SECS" GB/s h2-256MiB ""

	# Hot beside cold on one connection: p99 of the hot GETs, alone and with cold streams.
	local cold o a99 c99 ratios=() nratios=()
	cold=$(join_paths "" "${COLD_PATHS[@]}")
	h2_mix() { # port tag cold? -> p99_us or x
		o=$(/usr/bin/python3 "$ROOT/bench/h2mix.py" "$1" /hot/4k.bin "$LAT_SECS" ${3:+"$cold"} |
			tee "$RAW/h2mix-$2.txt")
		if [ "$(kv "$o" errors)" = 0 ]; then kv "$o" p99_us; else echo x; fi
	}
	local na=() nc=() va=() vc=()
	for run in $(seq "$RUNS"); do
		h2_warm "$nport" /hot/4k.bin
		na+=("$(h2_mix "$nport" "nginx-alone-$run")")
		drop_caches
		h2_warm "$nport" /hot/4k.bin
		nc+=("$(h2_mix "$nport" "nginx-cold-$run" cold)")
		h2_vmsend
		h2_warm "$port" /hot/4k.bin
		va+=("$(h2_mix "$port" "vmsend-alone-$run")")
		drop_caches
		h2_warm "$port" /hot/4k.bin
		vc+=("$(h2_mix "$port" "vmsend-cold-$run" cold)")
	done
	a99=$(median "${va[@]}")
	c99=$(median "${vc[@]}")
	say "$(printf '%-28s nginx p99 %s -> %s   vmsend p99 %s -> %s' "h2 hot 4 KiB beside cold" \
		"$(fmt "$(median "${na[@]}")" us)" "$(fmt "$(median "${nc[@]}")" us)" \
		"$(fmt "$a99" us)" "$(fmt "$c99" us)")"
	local r nr
	r=$(ratio "$c99" "$a99")
	nr=$(ratio "$(median "${nc[@]}")" "$(median "${na[@]}")")
	say "$(printf '%-28s vmsend %s   nginx %s   (target <= 3 for vmsend)%s' "h2 p99 cold/alone" "$r" \
		"$nr" "$(verdict "$r" 3 le)")"
	echo "h2-p99-cold-headroom $(awk -v r="$r" 'BEGIN { if (r > 0) printf "%.2f", 3 / r; else print 0 }') 1.0" >>"$RATIOS"
	stop_pid "$vpid"
	stop_pid "$npid"
}
