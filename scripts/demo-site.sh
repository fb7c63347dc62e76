#!/usr/bin/env bash
# Prepare the demo site that `make run` serves: the committed pages in DIR
# (default demo/site) plus generated binary files of several sizes, among
# them a large one (LARGE_MB, default 256 MiB) bigger than the default page
# cache, so a download shows misses, read-ahead and reclaim in the metrics.
# Generated files are made once and kept (demo/.gitignore).
# Usage: scripts/demo-site.sh [DIR]
set -euo pipefail
dir=${1:-demo/site}
large_mb=${LARGE_MB:-256}
if [ ! -f "$dir/index.html" ]; then
	echo "demo-site: $dir/index.html is missing (run from the repository root)" >&2
	exit 1
fi
mkdir -p "$dir/media"
# Deterministic patterns (not random) so a download can be checked by eye: byte i of
# pattern-N is i mod 251, a prime, so pages do not repeat on a 4 KiB boundary.
make_pattern() { # NAME BYTES
	local f="$dir/media/$1"
	[ -f "$f" ] && [ "$(stat -c %s "$f")" = "$2" ] && return 0
	python3 -c 'import sys
n = int(sys.argv[1]); blk = bytes(i % 251 for i in range(251 * 4096))
out = sys.stdout.buffer
while n > 0:
    out.write(blk[:min(n, len(blk))]); n -= len(blk)' "$2" > "$f.tmp"
	mv "$f.tmp" "$f"
}
make_pattern pattern-4k.bin 4096
make_pattern pattern-100k.bin 102400
make_pattern pattern-1m.bin 1048576
large="$dir/media/large.bin"
want=$((large_mb * 1024 * 1024))
if [ ! -f "$large" ] || [ "$(stat -c %s "$large")" != "$want" ]; then
	echo "demo-site: generating $large ($large_mb MiB)" >&2
	head -c "$want" /dev/urandom > "$large.tmp"
	mv "$large.tmp" "$large"
fi
echo "demo-site: $dir ready" >&2
