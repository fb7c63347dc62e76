#!/usr/bin/env bash
# Run every libFuzzer driver built in BUILD_DIR for SECONDS each.
# Usage: tests/fuzz/run-all.sh BUILD_DIR SECONDS
#
# Drivers are the executables named fuzz_* anywhere under BUILD_DIR/tests
# (configure with -DVMSEND_FUZZ=ON and clang).  A driver's seed corpus is
# tests/fuzz/corpus/NAME for the drivers here, else the "corpus" folder next
# to the driver's sources (tests/fault/objfs_corrupt/corpus for
# build/.../tests/fault/objfs_corrupt/fuzz_objfs_image).  Seeds are only read;
# new inputs go to BUILD_DIR/fuzz-work/NAME, and a crash leaves its input in
# BUILD_DIR/fuzz-work and fails the run.
set -euo pipefail
build=$(cd "${1:?usage: run-all.sh BUILD_DIR SECONDS}" && pwd)
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
status=0
found=0
while IFS= read -r bin; do
	found=1
	name=$(basename "$bin")
	name=${name#fuzz_}
	rel=$(dirname "${bin#"$build"/}")
	seeds=()
	if [ -d "$here/corpus/$name" ]; then
		seeds=("$here/corpus/$name")
	elif [ -d "$src/$rel/corpus" ]; then
		seeds=("$src/$rel/corpus")
	fi
	work="$build/fuzz-work/$name"
	mkdir -p "$work"
	echo "fuzz: $name for ${secs}s (seeds: ${seeds[*]:-none})"
	if ! (cd "$build/fuzz-work" && "$bin" -max_total_time="$secs" -print_final_stats=1 \
		"$work" "${seeds[@]}"); then
		echo "fuzz: $name FAILED (crash input in $build/fuzz-work)" >&2
		status=1
	fi
done < <(find "$build/tests" -type f -name 'fuzz_*' -perm -u+x | sort)
if [ $found = 0 ]; then
	echo "fuzz: no drivers under $build/tests (configure with -DVMSEND_FUZZ=ON and clang)" >&2
	exit 1
fi
exit $status
