#!/bin/sh
# The layering check fails on an include that points up and passes on one
# that points down (scripts/check-layers.py).
set -u
chk=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/src/vm" "$tmp/src/pager" "$tmp/src/fs/hostfs" "$tmp/src/fs/objfs"
printf '#include "vm/vm.h"\n' >"$tmp/src/pager/pager.c"
printf '#include "vfs/vfs.h"\n' >"$tmp/src/fs/hostfs/h.c"
if ! python3 "$chk" "$tmp" >"$tmp/out"; then
	echo "FAIL: a downward include was refused"; cat "$tmp/out"; exit 1
fi
printf '#include "pager/pager.h"\n' >"$tmp/src/vm/vm_object.c"
if python3 "$chk" "$tmp" >"$tmp/out"; then
	echo "FAIL: vm including pager was not caught"; exit 1
fi
grep -q 'src/vm/vm_object.c:1: vm (layer vm) includes pager/pager.h' "$tmp/out" || {
	echo "FAIL: the report does not name the file and line"; cat "$tmp/out"; exit 1; }
rm "$tmp/src/vm/vm_object.c"
printf '#include "fs/objfs/dmu.h"\n' >"$tmp/src/fs/hostfs/h.c"
if python3 "$chk" "$tmp" >"$tmp/out"; then
	echo "FAIL: hostfs including objfs was not caught"; exit 1
fi
rm "$tmp/src/fs/hostfs/h.c"
mkdir -p "$tmp/src/newthing" && : >"$tmp/src/newthing/a.c"
if python3 "$chk" "$tmp" >"$tmp/out"; then
	echo "FAIL: a folder without a layer was not caught"; exit 1
fi
echo "ok: up-pointing includes, sibling file systems and unknown folders are refused"
