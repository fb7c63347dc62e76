#!/usr/bin/env bash
# Install the Debian packages vmsend needs, only when something is missing.
# Usage: scripts/deps.sh [build|bench|fuzz|deb]   (default: build)
set -euo pipefail
want=(cmake make gcc pkg-config clang clang-format liburing-dev liblz4-dev libxxhash-dev
      libcriterion-dev curl python3 libnghttp2-dev nghttp2-client python3-h2 libsystemd-dev
      zlib1g-dev libzstd-dev libbrotli-dev libssl-dev openssl wget aria2
      librados-dev ceph-mon ceph-osd ceph-common uuid-runtime # rados: tests/rados, ceph-dev-cluster.sh
      help2man zstd brotli)
case "${1:-build}" in
bench) want+=(nginx-light wrk gnuplot-nox) ;;
fuzz) want+=(libclang-rt-14-dev) ;;
deb) want+=(debhelper dpkg-dev fakeroot lintian man-db) ;;
esac
[ "${1:-build}" = build ] && want+=(wrk)
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
