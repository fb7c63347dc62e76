#!/bin/sh
# `vmsend incident` must reproduce the 2018 panic with its exact message and a
# backtrace through the sendfile, pager and objfs frames, then deliver the
# right bytes the vmsend way.  Usage: test_incident.sh VMSEND
set -u
out=$("$1" incident 2>&1)
rc=$?
printf '%s\n' "$out"
fail() { echo "test_incident: FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
[ $rc -eq 0 ] || fail "vmsend incident exited $rc"
for want in \
	'panic: vm_page_assert_xbusied: page 0x[0-9a-f]* not exclusive busy @ .*src/fs/objfs/dmu.c:[0-9]' \
	'\[bogus_page\]' \
	'vms_sendfile_object (src/sendfile/sendfile.c' \
	'sf_issue (src/sendfile/swapin.c' \
	'pager_getpages_async_KBI (src/pager/pager.c' \
	'dmu_getpages_async_2018 (src/fs/objfs/dmu.c' \
	'the child panicked, as FreeBSD did' \
	'coalesce (one I/O, bogus slot skipped): all bytes right' \
	'sendfile: ios 1, pages read 16, pages already valid 1, bogus pages 1' \
	'splits around the cached page: all bytes right' \
	'sendfile: ios 2, pages read 16, pages already valid 1, bogus pages 0' \
	'incident reproduced and avoided'; do
	printf '%s\n' "$out" | grep -q -- "$want" || fail "missing: $want"
done
echo "1 passed, 0 failed"
