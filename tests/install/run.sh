#!/bin/sh
# Install libvmsend into a temporary prefix, build the two examples against
# the installed header only (pkg-config --cflags --libs vmsend), run them,
# and compare every byte.  Also: only include/vmsend/*.h is installed, the
# static archive links beside a program that defines io_submit and vm_init
# itself, and the CMake package config finds the library.
#
# usage: run.sh BUILD_DIR SOURCE_DIR VMSEND_BINARY
set -u
build=$1 src=$2 vmsend=$3
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"; fail "cmake --install"; }
headers=$(cd "$tmp/prefix" && find include -type f | sort | tr '\n' ' ')
case "$headers" in
"include/vmsend/vmsend.h " | "include/vmsend/http.h include/vmsend/vmsend.h ") ;;
*) fail "installed headers are not only include/vmsend/*.h: $headers" ;;
esac
pc=$(find "$tmp/prefix" -name vmsend.pc)
[ -n "$pc" ] || fail "no vmsend.pc installed"
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir vmsend)
[ -f "$libdir/libvmsend.so" ] && [ -f "$libdir/libvmsend.a" ] || fail "no library in $libdir"
cc=${CC:-cc}
for ex in fileserver objcat; do
	$cc -o "$tmp/$ex" "$src/examples/$ex.c" $(pkg-config --cflags --libs vmsend) ||
		fail "building examples/$ex.c against the installed header"
done
# The static archive: a program with its own io_submit and vm_init links beside it.
cat >"$tmp/clash.c" <<'C'
#include <vmsend/vmsend.h>
int io_submit(void) { return 42; }
int vm_init(void) { return 7; }
int main(void)
{
	struct vmsend *vs;
	if (io_submit() != 42 || vm_init() != 7 || vmsend_create(1 << 20, &vs) != 0)
		return 1;
	vmsend_destroy(vs);
	return 0;
}
C
static_libs=$(pkg-config --static --libs vmsend | sed 's/-lvmsend\b/-l:libvmsend.a/')
$cc -o "$tmp/clash" "$tmp/clash.c" $(pkg-config --cflags vmsend) $static_libs ||
	fail "a program defining io_submit and vm_init does not link with libvmsend.a"
"$tmp/clash" || fail "the statically linked program saw the library's io_submit or vm_init"
$cc -o "$tmp/objcat_static" "$src/examples/objcat.c" $(pkg-config --cflags vmsend) $static_libs ||
	fail "building objcat against libvmsend.a"
export LD_LIBRARY_PATH=$libdir

# Data: a page-unaligned binary file, a compressible text file, a small one.
mkdir -p "$tmp/site/sub"
head -c 1234567 /dev/urandom >"$tmp/site/big.bin"
yes "vmsend example line" | head -c 700001 >"$tmp/site/sub/text.txt"
echo hello >"$tmp/site/hello.txt"

# The file server: three requests, then it exits by itself.
"$tmp/fileserver" "$tmp/site" 0 3 >"$tmp/port" 2>"$tmp/server.err" &
srv=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port")
[ -n "$port" ] || { cat "$tmp/server.err"; fail "the file server did not start"; }
python3 - "$port" "$tmp/site" <<'PY' || fail "file server bytes differ"
import sys, urllib.request, urllib.error
port, root = sys.argv[1], sys.argv[2]
for name in ("big.bin", "sub/text.txt"):
    body = urllib.request.urlopen("http://127.0.0.1:%s/%s" % (port, name), timeout=30).read()
    want = open("%s/%s" % (root, name), "rb").read()
    if body != want:
        print("%s: %d bytes, want %d" % (name, len(body), len(want))); sys.exit(1)
try:
    urllib.request.urlopen("http://127.0.0.1:%s/nope" % port, timeout=30)
    print("/nope was not a 404"); sys.exit(1)
except urllib.error.HTTPError as e:
    if e.code != 404:
        print("/nope: %d" % e.code); sys.exit(1)
PY
wait "$srv" || { cat "$tmp/server.err"; fail "the file server exited with an error"; }
srv=
[ -s "$tmp/server.err" ] && { cat "$tmp/server.err"; fail "the file server wrote to stderr"; }

# objcat: ranges of an objfs image, byte-exact, with the shared and the static library.
"$vmsend" mkimage "$tmp/site" "$tmp/site.img" >/dev/null || fail "vmsend mkimage"
for bin in objcat objcat_static; do
	"$tmp/$bin" "$tmp/site.img" /big.bin >"$tmp/out" || fail "$bin whole file"
	cmp "$tmp/out" "$tmp/site/big.bin" || fail "$bin: whole file differs"
	"$tmp/$bin" "$tmp/site.img" /big.bin 70001 500000 >"$tmp/out" || fail "$bin range"
	tail -c +70002 "$tmp/site/big.bin" | head -c 500000 | cmp - "$tmp/out" || fail "$bin: range differs"
	"$tmp/$bin" "$tmp/site.img" /sub/text.txt 4096 >"$tmp/out" || fail "$bin text"
	tail -c +4097 "$tmp/site/sub/text.txt" | cmp - "$tmp/out" || fail "$bin: text tail differs"
	if "$tmp/$bin" "$tmp/site.img" /missing >"$tmp/out" 2>"$tmp/err"; then
		fail "$bin: a missing path succeeded"
	fi
	grep -q "No such file" "$tmp/err" || fail "$bin: no clear error for a missing path"
done

# The CMake package: find_package(vmsend) gives vmsend::vmsend.
mkdir -p "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(use_vmsend C)
find_package(vmsend 0.1 REQUIRED)
add_executable(objcat $src/examples/objcat.c)
target_link_libraries(objcat PRIVATE vmsend::vmsend)
target_link_options(objcat PRIVATE $(pkg-config --libs-only-other vmsend))
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cm.log" 2>&1 &&
	cmake --build "$tmp/cm/b" >>"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; fail "find_package(vmsend)"; }
"$tmp/cm/b/objcat" "$tmp/site.img" /hello.txt | cmp - "$tmp/site/hello.txt" || fail "CMake-built objcat"
# libvmsend_http (pkg-config vmsend-http): the server over the engine, stopped by the program.
cat >"$tmp/httpd.c" <<'C'
#include <vmsend/http.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	struct vmsend *vs;
	struct vms_http *h;
	if (vmsend_create(16 << 20, &vs) != 0 || vmsend_mount(vs, "/", "hostfs", argv[1]) != 0 ||
	    vms_http_start(vs, "127.0.0.1:0", 1, VMS_HTTP_METRICS, &h) != 0)
		return 1;
	printf("%d\n", vms_http_port(h));
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0) /* runs until its stdin closes */
		;
	vms_http_stop(h);
	vmsend_destroy(vs);
	return 0;
}
C
$cc -o "$tmp/httpd" "$tmp/httpd.c" $(pkg-config --cflags --libs vmsend-http) ||
	fail "building against libvmsend_http"
mkfifo "$tmp/in"
"$tmp/httpd" "$tmp/site" <"$tmp/in" >"$tmp/hport" 2>"$tmp/httpd.err" &
srv=$!
exec 3>"$tmp/in"
i=0
while [ ! -s "$tmp/hport" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
python3 - "$(cat "$tmp/hport")" "$tmp/site" <<'PY' || fail "libvmsend_http bytes differ"
import sys, urllib.request
port, root = sys.argv[1], sys.argv[2]
body = urllib.request.urlopen("http://127.0.0.1:%s/big.bin" % port, timeout=30).read()
if body != open(root + "/big.bin", "rb").read():
    sys.exit(1)
m = urllib.request.urlopen("http://127.0.0.1:%s/.vmsend/metrics" % port, timeout=30).read()
if b"vmsend_http_requests_total " not in m:
    sys.exit(1)
PY
exec 3>&-
wait "$srv" || fail "the libvmsend_http program exited with an error"
srv=
[ -s "$tmp/httpd.err" ] && { cat "$tmp/httpd.err"; fail "libvmsend_http wrote to stderr"; }
echo "ok: installed, built with pkg-config and CMake, served and streamed byte-exact"
