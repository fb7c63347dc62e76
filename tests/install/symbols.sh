#!/bin/sh
# libvmsend exports exactly the VMSEND_API functions of include/vmsend/vmsend.h:
# nm -D of the shared library and nm -g of the static archive list those names
# and nothing else (the shared library also names its version node, VMSEND_0).
#
# usage: symbols.sh LIB.so LIB.a HEADER...   (the library exports the VMSEND_API names of all)
set -u
so=$1 a=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cat "$@" | grep -o '^VMSEND_API [^(]*(' | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort >"$tmp/want"
[ -s "$tmp/want" ] || { echo "FAIL: no VMSEND_API declarations in $*"; exit 1; }
nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort >"$tmp/so"
nm -g --defined-only "$a" | awk 'NF == 3 {print $3}' | sort >"$tmp/a"
rc=0
for f in so a; do
	if ! cmp -s "$tmp/want" "$tmp/$f"; then
		echo "FAIL: lib$f exports differ from the header's VMSEND_API functions:"
		diff "$tmp/want" "$tmp/$f"
		rc=1
	fi
	if grep -v -E '^(vms_|vmsend_)' "$tmp/$f"; then
		echo "FAIL: the lines above are exported by the $f library without a vms_/vmsend_ prefix"
		rc=1
	fi
done
[ $rc = 0 ] && echo "ok: $(wc -l <"$tmp/want") symbols, all vms_/vmsend_, in both libraries"
exit $rc
