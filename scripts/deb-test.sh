#!/usr/bin/env bash
# Install a vmsend .deb (dpkg -i), check what it put where, start the installed
# server the way its unit does but under this script (no systemd here):
# --check-config on the shipped config, then serve with that config as
# root -> www-data on 127.0.0.1, fetch a file, SIGHUP, stop; then purge.
# Usage: scripts/deb-test.sh PACKAGE.deb   (as root)
set -euo pipefail
deb=$1
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (dpkg -i)"; exit 77; }
tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	dpkg --purge vmsend >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "deb-test: FAIL: $*"; [ -f "$tmp/out" ] && tail -20 "$tmp/out"; exit 1; }

dpkg -i "$deb"
for f in /usr/bin/vmsend /etc/vmsend/vmsend.conf /lib/systemd/system/vmsend.service \
	/lib/systemd/system/vmsend.socket /usr/share/man/man1/vmsend.1.gz \
	/usr/share/man/man1/vmsend-serve.1.gz; do
	[ -e "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' vmsend | grep -q /etc/vmsend/vmsend.conf || fail "vmsend.conf is no conffile"
man -l /usr/share/man/man1/vmsend-serve.1.gz 2>/dev/null | grep -q -- --check-config || fail "man page lacks --check-config"

# The shipped config, served from a scratch root on a loopback port.
mkdir -p "$tmp/www/assets" && chmod 755 "$tmp" "$tmp/www" "$tmp/www/assets"
echo "hello from the package" >"$tmp/www/index.html"
chmod 644 "$tmp/www/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e '/^listen /d' -e '/-log /d' /etc/vmsend/vmsend.conf >"$tmp/vmsend.conf"
printf 'listen 127.0.0.1:%s\nroot %s/www\ncache-size 32M\nthreads 1\n' "$port" "$tmp" >>"$tmp/vmsend.conf"
/usr/bin/vmsend serve --config "$tmp/vmsend.conf" --check-config || fail "--check-config refused the shipped config"
/usr/bin/vmsend serve --config "$tmp/vmsend.conf" >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "Ctrl-C stops" "$tmp/out" && break; sleep 0.1; done
grep -q "Ctrl-C stops" "$tmp/out" || fail "the installed server did not start"
body=$(curl -sS -D "$tmp/head" "http://127.0.0.1:$port/")
[ "$body" = "hello from the package" ] || fail "GET / gave '$body'"
grep -qi '^cache-control: no-cache' "$tmp/head" || fail "the shipped cache-control rule is not applied"
grep -q '^Uid:[[:space:]]*33[[:space:]]' /proc/$pid/status || fail "not running as www-data: $(grep Uid /proc/$pid/status)"
kill -HUP "$pid"
for _ in $(seq 100); do grep -q "vmsend: reloaded" "$tmp/out" && break; sleep 0.1; done
grep -q "vmsend: reloaded" "$tmp/out" || fail "SIGHUP did not reload"
kill -TERM "$pid"
wait "$pid" || fail "exit status $?"
pid=""
echo "deb-test: PASS (installed, shipped config checked, served as www-data, reloaded, stopped)"
