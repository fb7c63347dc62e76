#!/usr/bin/env python3
"""A short wrk load run against `vmsend serve`: zero errors, every response
2xx, then byte-exact spot checks of the files wrk hammered (a cache that
served wrong bytes under load would show here).  A few seconds only; the
numbers are printed, never asserted (benchmarks live in bench/)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Server, get, make_site, sha  # noqa: E402

WRK_LUA = r"""
local paths = {"/hello.txt", "/page.bin", "/medium.bin", "/index.html", "/sub/"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def main():
    if shutil.which("wrk") is None:
        print("SKIP: wrk is not installed (scripts/deps.sh installs it)")
        return 77  # SKIP_RETURN_CODE in tests/http/CMakeLists.txt
    root = tempfile.mkdtemp(prefix="vmsend-load-")
    srv = None
    try:
        files = make_site(root)
        srv = Server(root, "--threads", "2")
        lua = os.path.join(root + "-paths.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA)
        ok = True
        for label, args in (("mixed", ["-s", lua, srv.url("/")]),
                            ("big", [srv.url("/big.bin")])):
            out = subprocess.run(["wrk", "-t2", "-c16", "-d3s", "--timeout", "10s"] + args,
                                 capture_output=True, text=True, timeout=120).stdout
            print("---- wrk %s ----\n%s" % (label, out))
            m = re.search(r"(\d+) requests in", out)
            if not m or int(m.group(1)) == 0:
                print("FAIL: wrk %s made no requests" % label)
                ok = False
            if "Socket errors" in out:
                print("FAIL: wrk %s saw socket errors" % label)
                ok = False
            if "Non-2xx or 3xx responses" in out:
                print("FAIL: wrk %s saw non-2xx/3xx responses" % label)
                ok = False
        os.unlink(lua)
        for name in ("hello.txt", "page.bin", "medium.bin", "index.html", "big.bin"):
            r = get(srv.port, "/" + name)
            if r.status != 200 or sha(r.body) != sha(files[name]):
                print("FAIL: %s differs after the load run" % name)
                ok = False
        r = get(srv.port, "/.vmsend/metrics")
        for ln in r.body.decode().splitlines():
            if re.match(r"vmsend_(http_requests|http_responses|sf_pages_read|sf_pages_valid|"
                        r"vm_hits|vm_misses|http_timeouts)", ln):
                print(ln)
        rc = srv.stop()
        if rc != 0:
            print("FAIL: server exit status %d\n%s" % (rc, srv.log[-4000:]))
            ok = False
        if any(w in srv.log for w in ("AddressSanitizer", "ThreadSanitizer", "runtime error")):
            print("FAIL: sanitizer report\n" + srv.log[-8000:])
            ok = False
        print("PASS" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if srv is not None and srv.proc.poll() is None:
            srv.proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
