#!/bin/sh
# Run a test program and fail if it failed, or if a sanitizer reported a leak
# or an error anywhere in its output.  Criterion runs each test in a worker
# process and does not look at what LeakSanitizer says when a worker exits,
# so without this a leaking test would pass.
# Usage: run-test.sh PROGRAM [ARGS...]
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
# Verbose: Criterion prints a skipped test ([SKIP] name: reason) only at this level.
CRITERION_VERBOSITY_LEVEL=1 "$@" >"$log" 2>&1
rc=$?
cat "$log"
if grep -q -e 'ERROR: LeakSanitizer' -e 'ERROR: AddressSanitizer' -e 'WARNING: ThreadSanitizer' \
	-e 'runtime error: ' "$log"; then
	echo "run-test: a sanitizer reported a problem above" >&2
	exit 1
fi
# A test that skipped itself (cr_skip_test: the machine lacks what it needs) makes the whole
# program report ctest's skip code, 77, with the reasons, rather than pass as if it had run.
if [ $rc = 0 ] && grep -q '^\[SKIP\]' "$log"; then
	echo "run-test: skipped, the machine lacks what these need:" >&2
	grep '^\[SKIP\]' "$log" >&2
	exit 77
fi
exit $rc
