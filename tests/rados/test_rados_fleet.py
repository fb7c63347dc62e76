#!/usr/bin/env python3
"""A fleet on one dataset: put v1, two servers serve v1; put v2 and both
serve v2 soon after (polled; the bound is generous, the time is printed); a
large download started on v1 finishes with v1's bytes only; gc keeps what a
kept version names."""
import os
import random
import re
import tempfile
import time

import rados_util as ru


def body(s, path):
    r = ru.get(s.port, path)
    assert r.status == 200, "%s: %d" % (path, r.status)
    return r.body


def main():
    ru.setup()
    seed = int(os.environ.get("VMSEND_TEST_SEED", random.randrange(1 << 30)))
    print("seed %d (VMSEND_TEST_SEED=%d replays)" % (seed, seed), flush=True)
    rnd = random.Random(seed)
    pool, ns = "vmsend", ru.new_namespace("fleet")
    with tempfile.TemporaryDirectory(prefix="vmsend-rados-") as d:
        v1 = {"small.txt": b"version one\n", "big.bin": rnd.randbytes(24 << 20),
              "same.bin": rnd.randbytes(100_000)}
        for n, b in v1.items():
            ru.write(d, n, b)
        out = ru.put(d, pool, ns)
        assert "version 1:" in out, out
        a = ru.serve(pool, ns, "--cache-size", "128M")
        b = ru.serve(pool, ns, "--cache-size", "128M")
        try:
            for s in (a, b):
                for n, data in v1.items():
                    assert body(s, "/" + n) == data, n
            print("both nodes serve v1", flush=True)

            # A large download on v1 that stalls after its first MiB.
            c = ru.Conn(a.port, rcvbuf=65536)
            c.request("GET", "/big.bin")
            while len(c.buf) < (1 << 20):
                c._fill()

            v2 = dict(v1, **{"small.txt": b"version two, longer\n",
                             "big.bin": rnd.randbytes(24 << 20)})
            for n in ("small.txt", "big.bin"):
                ru.write(d, n, v2[n])
                t = time.time() + 5  # a different mtime even on coarse clocks
                os.utime(os.path.join(d, n), (t, t))
            t0 = time.time()
            out = ru.put(d, pool, ns)
            assert re.search(r"version 2: 3 files \(2 sent, 1 unchanged\)", out), out
            t_put = time.time()
            seen = {}
            while len(seen) < 2 and time.time() - t_put < 30:
                for s in (a, b):
                    if s.port not in seen and body(s, "/small.txt") == v2["small.txt"]:
                        seen[s.port] = time.time() - t_put
                time.sleep(0.02)
            assert len(seen) == 2, "not every node switched to v2 within 30 s: %s" % seen
            print("put v2 took %.2f s; nodes served v2 %.3f s and %.3f s after it returned"
                  % (t_put - t0, *sorted(seen.values())), flush=True)
            for s in (a, b):
                for n, data in v2.items():
                    assert body(s, "/" + n) == data, "v2 %s on %d" % (n, s.port)
                    assert body(s, "/" + n) == data, n

            # The stalled v1 download resumes and ends with v1 bytes only.
            r = c.read_response()
            c.close()
            assert r.status == 200 and len(r.body) == len(v1["big.bin"])
            assert r.body == v1["big.bin"], "the v1 download has bytes of another version"
            print("the download started on v1 finished with v1's %d bytes" % len(r.body),
                  flush=True)

            # The unchanged file kept its identity: same objects in both versions.
            st = ru.vmsend("rados", "stat", "same.bin", *ru.rados_args(pool, ns),
                           leaks=False).stdout.decode()
            assert "version: 2" in st
            gc = ru.vmsend("rados", "gc", "--keep", "2", *ru.rados_args(pool, ns)).stdout
            assert b"removed 0 objects" in gc, gc
            gc = ru.vmsend("rados", "gc", "--keep", "1", *ru.rados_args(pool, ns),
                           leaks=False).stdout.decode()
            # v1's small.txt (1) and big.bin (6 objects of 4 MiB), and manifest.1.
            assert "removed 8 objects" in gc, gc
            for s in (a, b):
                assert body(s, "/big.bin") == v2["big.bin"]
            fsck = ru.vmsend("rados", "fsck", *ru.rados_args(pool, ns),
                             leaks=False).stdout.decode()
            assert " 0 broken" in fsck, fsck
            assert "switched from version 1 to 2" in a.log and "switched from version 1 to 2" in b.log
        finally:
            a.stop()
            b.stop()
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
