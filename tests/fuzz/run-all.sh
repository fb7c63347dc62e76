#!/usr/bin/env bash
# Run every libFuzzer driver built in BUILD_DIR for SECONDS each.
# Usage: tests/fuzz/run-all.sh BUILD_DIR SECONDS
# New inputs go to BUILD_DIR/fuzz-work/NAME (the seed corpus in the repository is
# only read); a crash leaves its input in BUILD_DIR/fuzz-work and fails the run.
set -euo pipefail
build=$(cd "${1:?usage: run-all.sh BUILD_DIR SECONDS}" && pwd)
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
status=0
found=0
for bin in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	found=1
	name=$(basename "$bin")
	name=${name#fuzz_}
	work="$build/fuzz-work/$name"
	mkdir -p "$work"
	echo "fuzz: $name for ${secs}s"
	if ! (cd "$build/fuzz-work" && "$bin" -max_total_time="$secs" -print_final_stats=1 \
		"$work" "$here/corpus/$name"); then
		echo "fuzz: $name FAILED (crash input in $build/fuzz-work)" >&2
		status=1
	fi
done
if [ $found = 0 ]; then
	echo "fuzz: no drivers in $build/tests/fuzz (configure with -DVMSEND_FUZZ=ON and clang)" >&2
	exit 1
fi
exit $status
