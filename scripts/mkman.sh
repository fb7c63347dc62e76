#!/bin/sh
# Generate vmsend(1) and vmsend-COMMAND(1) from the binary's own --help text
# (help2man), so a man page cannot drift from the help.
# Usage: scripts/mkman.sh VMSEND_BINARY OUTDIR VERSION
set -eu
bin=$1 out=$2 version=$3
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The sanitizers of a debug build must not print into a man page.
export ASAN_OPTIONS=detect_leaks=0
# Reproducible: the page's date comes from the source, not the build time.
: "${SOURCE_DATE_EPOCH:=$(git -C "$(dirname "$0")" log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
"$bin" --help >/dev/null
help2man --no-info --version-string="$version" -N -s 1 -S vmsend \
	-n "a static-file server on a userspace page cache and sendfile engine" \
	-o "$out/vmsend.1" "$bin"
# "  serve      serve files over ..." lines of vmsend --help: one page per command.
"$bin" --help | sed -n 's/^  \([a-z][a-z]*\)  *\(.*\)$/\1\t\2/p' | while IFS="$(printf '\t')" read -r cmd desc; do
	# A command this build lacks (incident needs a debug build) gets no page.
	if ! "$bin" "$cmd" --help >/dev/null 2>&1; then
		echo "mkman: vmsend $cmd --help fails in this build: no vmsend-$cmd(1)" >&2
		continue
	fi
	w="$tmp/vmsend-$cmd"
	printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin" "$cmd" >"$w"
	chmod +x "$w"
	help2man --no-info --version-string="$version" -N -s 1 -S vmsend -n "$desc" \
		-o "$out/vmsend-$cmd.1" "$w"
done
ls "$out" | grep -q '^vmsend-serve\.1$' || { echo "mkman: no vmsend-serve.1" >&2; exit 1; }
