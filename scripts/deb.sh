#!/usr/bin/env bash
# make deb: build the Debian package from a clean copy of the committed tree
# (git archive) in build/deb, run lintian on it, then install it and start
# the installed server under this script (scripts/deb-test.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
rm -rf "$out"
mkdir -p "$out/src"
git -C "$top" archive --format=tar HEAD | tar -x -C "$out/src"
# Uncommitted debian/ and contrib/ edits are what one is usually testing: take them too.
cp -r "$top/debian" "$top/contrib" "$out/src/"
cd "$out/src"
dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log"
	echo "deb: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
	exit 1
}
deb=$(ls "$out"/vmsend_"$version"_*.deb)
echo "deb: built $deb"
dpkg-deb -c "$deb"
libs=$(ls "$out"/libvmsend*_"$version"_*.deb)
for l in $libs; do echo "deb: built $l" && dpkg-deb -c "$l"; done
echo "---- lintian ----"
lintian --pedantic --display-info "$deb" $libs | tee "$out/lintian.txt" || true
echo "---- lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors, $(grep -c '^W:' "$out/lintian.txt" || true) warnings, $(grep -c "^[IP]:" "$out/lintian.txt" || true) info/pedantic ----"
"$top/scripts/deb-test.sh" "$deb"
