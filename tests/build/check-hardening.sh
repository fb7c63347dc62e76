#!/bin/sh
# Check that a binary is hardened as a Debian package is (what devscripts'
# hardening-check looks for), with readelf from binutils:
#   PIE, full RELRO (GNU_RELRO + BIND_NOW), stack protector, _FORTIFY_SOURCE.
# Usage: check-hardening.sh BINARY      (exit 1 and say what is missing)
set -eu
bin=${1:?usage: check-hardening.sh BINARY}
command -v readelf >/dev/null || { echo "check-hardening: readelf (binutils) is missing" >&2; exit 1; }
bad=0
check() { # name, then a command that succeeds if the binary has it
	name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "hardening: $name: yes"
	else
		echo "hardening: $name: NO ($bin)" >&2
		bad=1
	fi
}
check "position independent executable (PIE)" sh -c "readelf -hW '$bin' | grep -q 'Type: *DYN'"
check "read-only relocations (RELRO)" sh -c "readelf -lW '$bin' | grep -q GNU_RELRO"
check "immediate binding (-z now)" sh -c "readelf -dW '$bin' | grep -Eq 'BIND_NOW|FLAGS.*NOW'"
check "stack protector" sh -c "readelf -sW --dyn-syms '$bin' | grep -q '__stack_chk_fail'"
check "_FORTIFY_SOURCE (checked libc calls)" sh -c "readelf -sW --dyn-syms '$bin' | grep -Eq ' __[a-z]+_chk(@|$)'"
exit $bad
