# bench/rados.sh: the RADOS section of bench/run (sourced by it; issue 17).
# shellcheck shell=bash
#
# A dev cluster of its own (scripts/ceph-dev-cluster.sh: one monitor, one
# memstore OSD on 127.0.0.1), started here and stopped at the end, on
# failure too.  The 64 KiB hot file and the first 4 cold files are uploaded
# with `vmsend rados put`; one vmsend serves the hostfs tree at / and the
# dataset at /r, so both sides of a ratio are the same process:
#
#   rados hot 64 KiB     wrk, 64 connections, req/s of /r/hot/64k.bin against
#                        /hot/64k.bin (hostfs): hot bytes come from our cache
#                        either way (target >= 0.95)
#   rados cold large     4 streams of the 4 cold files from /r, vmsend restarted
#                        before each run (its cache emptied), GB/s, beside
#                        `rados bench seq` (4 ops in flight, 4 MiB objects) on
#                        the same cluster: what the cluster itself delivers
#
# Uses bench/run's helpers (say, paired, spread, fmt, median, free_port,
# wrk_run, wait_http, warm, stop_pid, kv) and its data set ($WWW).

RADOS_DIR=""
rados_stop() {
	[ -z "$RADOS_DIR" ] || "$ROOT/scripts/ceph-dev-cluster.sh" stop "$RADOS_DIR" >/dev/null 2>&1 || true
	RADOS_DIR=""
}

RADOS_PID="" RADOS_STARTS=0
rados_vmsend_restart() { # port conf -> 1 if it does not come up
	stop_pid "$RADOS_PID"
	RADOS_PID=""
	RADOS_STARTS=$((RADOS_STARTS + 1))
	"$VMSEND" serve --allow-root --listen "127.0.0.1:$1" --root "$WWW" --mount "/r=rados:vmsend" \
		--ceph-conf "$2" --threads "$THREADS" --cache-size "$CACHE_SIZE" \
		>"$RAW/vmsend-rados-$RADOS_STARTS.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	if ! wait_http "$1" /r/hot/64k.bin "$pid"; then
		say "NOTE: vmsend serve with a rados mount did not come up (bench/results/tmp/$STAMP/vmsend-rados-$RADOS_STARTS.log)"
		stop_pid "$pid"
		return 1
	fi
	RADOS_PID=$pid
}

rados_wrk() { # url tag -> req/s or x
	local res
	res=$(wrk_run "$1" 64 "$HOT_SECS" "$2")
	if [ "$res" = fail ] || [ "$(echo "$res" | cut -d' ' -f3)" != 0 ]; then
		say "NOTE: $2: wrk failed or saw errors (bench/results/tmp/$STAMP/wrk-$2.txt)" >&2
		echo x
	else
		echo "$res" | cut -d' ' -f1
	fi
}

# rados_line NAME UNIT "rados values" "other values" OTHER-LABEL RATIO-LABEL [TARGET]
# (the value lists are split on purpose: median takes one value per argument)
# shellcheck disable=SC2086
rados_line() {
	local p r
	p=$(paired "$3" "$4")
	r=${p%% *}
	say "$(printf '%-28s %s %s   rados %s   %s = %s%s%s' "$1" "$5" "$(fmt "$(median $4)" "$2")" \
		"$(fmt "$(median $3)" "$2")" "$6" "${r:-n/a}" "${7:+   (target >= $7)}" \
		"$([ -n "$p" ] && spread "$p" "${7:-}")")"
}

rados_bench() {
	if ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
		say "$(printf '%-28s %s' "RADOS" "skipped: ceph-mon/ceph-osd missing (scripts/deps.sh rados)")"
		return
	fi
	if ! has_cmd rados; then
		say "$(printf '%-28s %s' "RADOS" "skipped: ${VMSEND:-vmsend} has no rados command (built without librados)")"
		return
	fi
	local conf port run side rv=() hv=() cv=() bv=() o i list src
	RADOS_DIR=$TMP/ceph
	trap 'rados_stop; cleanup' EXIT
	if ! "$ROOT/scripts/ceph-dev-cluster.sh" start "$RADOS_DIR" >"$RAW/ceph-start.log" 2>&1; then
		say "NOTE: the dev cluster did not start (bench/results/tmp/$STAMP/ceph-start.log)"
		rados_stop
		return
	fi
	say "$(grep 'start took' "$RAW/ceph-start.log" | sed 's/^ceph-dev-cluster: /RADOS dev cluster (memstore): /')"
	conf=$RADOS_DIR/ceph.conf
	src=$TMP/rados-src
	mkdir -p "$src/hot" "$src/cold"
	ln -f "$WWW/hot/64k.bin" "$src/hot/64k.bin"
	list=""
	for i in 0 1 2 3; do
		ln -f "$WWW/cold/r$i.bin" "$src/cold/r$i.bin"
		list+="${list:+,}/r/cold/r$i.bin"
	done
	if ! "$VMSEND" rados put "$src" --pool vmsend --ceph-conf "$conf" --no-progress \
		>"$RAW/rados-put.log" 2>&1; then
		say "NOTE: vmsend rados put failed (bench/results/tmp/$STAMP/rados-put.log)"
		rados_stop
		return
	fi
	# rados bench's own objects: 64 of 4 MiB, read back by every seq run.
	rados -c "$conf" -p vmsend bench 60 write -t 4 -b 4194304 --max-objects 64 --no-cleanup \
		>"$RAW/rados-bench-write.txt" 2>&1
	port=$(free_port)
	USED_PORTS+=" $port"
	rados_vmsend_restart "$port" "$conf" || {
		rados_stop
		return
	}
	warm "$port" /hot/64k.bin /r/hot/64k.bin
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo hostfs rados || echo rados hostfs); do
			if [ "$side" = hostfs ]; then
				hv+=("$(rados_wrk "http://127.0.0.1:$port/hot/64k.bin" "rados-hostfs-64k-$run")")
			else
				rv+=("$(rados_wrk "http://127.0.0.1:$port/r/hot/64k.bin" "rados-64k-$run")")
			fi
		done
	done
	rados_line "rados hot 64 KiB" req/s "${rv[*]}" "${hv[*]}" "hostfs" "rados/hostfs" 0.95
	for run in $(seq "$RUNS"); do
		for side in $([ $((run % 2)) = 1 ] && echo bench vmsend || echo vmsend bench); do
			if [ "$side" = bench ]; then
				rados -c "$conf" -p vmsend bench 30 seq -t 4 >"$RAW/rados-bench-seq-$run.txt" 2>&1
				o=$(awk '/^Bandwidth \(MB\/sec\):/ { printf "%.4f", $3 / 1000 }' "$RAW/rados-bench-seq-$run.txt")
				bv+=("${o:-x}")
			elif rados_vmsend_restart "$port" "$conf"; then
				o=$("$TOOLS/bench_httpload" -p "$port" --stream "$list" -s 4 -d 600 | tee "$RAW/cold-rados-$run.txt")
				if [ "$(kv "$o" errors)" = 0 ]; then cv+=("$(kv "$o" gbps)"); else cv+=(x); fi
			else
				cv+=(x)
			fi
		done
	done
	rados_line "rados cold large (4 conns)" GB/s "${cv[*]}" "${bv[*]}" "rados bench seq" "vmsend/bench"
	stop_pid "$RADOS_PID"
	rados_stop
	trap cleanup EXIT
}
