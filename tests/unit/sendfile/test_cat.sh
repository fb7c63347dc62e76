#!/bin/sh
# `vmsend cat` (src/cli/cmd_cat.c): byte-exact output through hostfs and the
# sendfile engine, ranges, both swapin policies, --stats, errors.
# usage: test_cat.sh VMSEND
set -eu
V=$1
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c 3000017 /dev/urandom > "$D/f.bin"
: > "$D/empty"

"$V" cat "$D/f.bin" > "$D/out" 2> "$D/err" || fail "whole file: rc $?"
cmp "$D/f.bin" "$D/out" || fail "whole file differs"

for pol in --split --coalesce; do
	"$V" cat f.bin --root "$D" --offset 4097 --length 200000 $pol > "$D/out" 2> "$D/err" ||
		fail "range $pol"
	tail -c +4098 "$D/f.bin" | head -c 200000 > "$D/want"
	cmp "$D/want" "$D/out" || fail "range $pol differs"
done

# Length past EOF stops at EOF; an offset past EOF sends nothing.
"$V" cat "$D/f.bin" --offset 2999999 --length 1M > "$D/out" 2> "$D/err" || fail "tail"
tail -c 18 "$D/f.bin" | cmp - "$D/out" || fail "tail differs"
"$V" cat "$D/f.bin" --offset 4000000 > "$D/out" 2> "$D/err" || fail "past EOF"
[ ! -s "$D/out" ] || fail "past EOF sent bytes"
"$V" cat "$D/empty" > "$D/out" 2> "$D/err" || fail "empty file"
[ ! -s "$D/out" ] || fail "empty file sent bytes"

# A small cache forces reclaim mid-stream; --stats counts what was sent.  All of the cache may
# be wired here, so that each grab covers its whole run and every page is read by sendfile.
VMSEND_VM_MAX_WIRED_PCT=100 "$V" cat "$D/f.bin" --cache-size 256K --stats > "$D/out" 2> "$D/err" ||
	fail "small cache"
cmp "$D/f.bin" "$D/out" || fail "small cache differs"
grep -q "^sf_bytes_sent *3000017$" "$D/err" || fail "--stats: $(cat "$D/err")"
grep -q "^sf_pages_read *733$" "$D/err" || fail "--stats pages_read: $(cat "$D/err")"
# With the default wired bound (vm.h, rule 1) grabs stop short and the pager's read-ahead caches
# pages sendfile then finds valid: still every page exactly once, read or found valid.
"$V" cat "$D/f.bin" --cache-size 256K --stats > "$D/out" 2> "$D/err" || fail "small cache, bound"
cmp "$D/f.bin" "$D/out" || fail "small cache, bound: differs"
read=$(sed -n 's/^sf_pages_read *//p' "$D/err")
valid=$(sed -n 's/^sf_pages_valid *//p' "$D/err")
[ "$((read + valid))" = 733 ] || fail "small cache, bound: $read read + $valid valid, want 733"

# --mount: the same file from an objfs image, and from a hostfs mount at a prefix.
mkdir -p "$D/tree/sub" && cp "$D/f.bin" "$D/tree/sub/f.bin"
"$V" mkimage "$D/tree" "$D/t.img" > /dev/null 2>&1 || fail "mkimage"
for pol in --split --coalesce; do
	"$V" cat --mount "/img=objfs:$D/t.img" /img/sub/f.bin $pol --offset 5000 > "$D/out" \
		2> "$D/err" || fail "objfs mount $pol: $(cat "$D/err")"
	tail -c +5001 "$D/f.bin" | cmp - "$D/out" || fail "objfs mount $pol differs"
done
"$V" cat --mount "/h=hostfs:$D/tree" /h/sub/f.bin > "$D/out" 2> "$D/err" || fail "hostfs mount"
cmp "$D/f.bin" "$D/out" || fail "hostfs mount differs"
if "$V" cat --mount "/h=nofs:$D" /h/f.bin > /dev/null 2> "$D/err"; then fail "bad fs accepted"; fi

if "$V" cat "$D/missing" > "$D/out" 2> "$D/err"; then fail "missing file succeeded"; fi
grep -q "No such file" "$D/err" || fail "missing file message: $(cat "$D/err")"
if "$V" cat "$D/f.bin" --offset nope > /dev/null 2>&1; then fail "bad --offset accepted"; fi
echo ok
