#!/usr/bin/env python3
"""Byte-exact reads of a RADOS dataset through the radosfs pager: `vmsend rados
cat`, `vmsend cat --mount /=rados:...` with random ranges, and two `vmsend
serve` nodes on one pool (whole files, random single ranges); put is
incremental; ls/stat/fsck on a clean dataset."""
import os
import random
import re
import sys
import tempfile

import rados_util as ru


def main():
    ru.setup()
    seed = int(os.environ.get("VMSEND_TEST_SEED", random.randrange(1 << 30)))
    print("seed %d (VMSEND_TEST_SEED=%d replays)" % (seed, seed), flush=True)
    rnd = random.Random(seed)
    pool, ns = "vmsend", ru.new_namespace("exact")
    with tempfile.TemporaryDirectory(prefix="vmsend-rados-") as d:
        files = ru.make_tree(d, seed)
        out = ru.put(d, pool, ns, "--stripe-size", "256K", "--chunk-size", "16K")
        print(out.strip())
        assert re.search(r"version 1: 9 files \(9 sent, 0 unchanged\)", out), out

        # Holes are not stored: sparse has 9 objects of 256 KiB, 4 of them all zero.
        st = ru.vmsend("rados", "stat", "sparse", *ru.rados_args(pool, ns)).stdout.decode()
        assert "objects: 9" in st and st.count("(hole, not stored)") == 4, st
        ls = ru.vmsend("rados", "ls", "sub", *ru.rados_args(pool, ns)).stdout.decode()
        assert re.search(r" 3145851 .* big\n", ls) and "deeper/" in ls, ls

        # 1. vmsend rados cat: whole files through the pager and the sendfile engine.
        for i, (name, data) in enumerate(sorted(files.items())):
            got = ru.vmsend("rados", "cat", name, *ru.rados_args(pool, ns), leaks=i == 0).stdout
            assert got == data, "rados cat %s: %d bytes, want %d" % (name, len(got), len(data))
        print("rados cat: %d files byte-exact" % len(files), flush=True)

        # 2. vmsend cat --mount with random ranges (cold cache each time).
        spec = "/=rados:%s/%s" % (pool, ns)
        for name in ("sparse", "sub/deeper/multi", "b4097"):
            data = files[name]
            for _ in range(2):
                off = rnd.randrange(len(data))
                ln = rnd.randrange(1, len(data) - off + 1)
                got = ru.vmsend("cat", name, "--mount", spec, "--ceph-conf", ru.conf(),
                                "--offset", str(off), "--length", str(ln), leaks=False).stdout
                assert got == data[off:off + ln], "cat %s [%d, +%d)" % (name, off, ln)
        print("vmsend cat --mount: random ranges byte-exact", flush=True)

        # 3. Two servers on one pool: whole files and random ranges from both.
        a = ru.serve(pool, ns)
        b = ru.serve(pool, ns)
        try:
            for s in (a, b):
                for name, data in sorted(files.items()):
                    r = ru.get(s.port, "/" + name)
                    assert r.status == 200 and r.body == data, "%s %s" % (s.port, name)
            for i in range(60):
                s = (a, b)[i % 2]
                name = rnd.choice(sorted(n for n in files if files[n]))
                data = files[name]
                lo = rnd.randrange(len(data))
                hi = rnd.randrange(lo, len(data))
                r = ru.get(s.port, "/" + name, {"Range": "bytes=%d-%d" % (lo, hi)})
                assert r.status == 206 and r.body == data[lo:hi + 1], \
                    "%s bytes=%d-%d: %d" % (name, lo, hi, r.status)
            m = ru.get(a.port, "/.vmsend/metrics").body.decode()
            assert re.search(r"vmsend_vm_pages_wired \d+", m)
        finally:
            a.stop()
            b.stop()
        print("2 servers: whole files and 60 random ranges byte-exact", flush=True)

        # 4. Incremental: nothing changed -> nothing published; one file changed -> one sent.
        out = ru.put(d, pool, ns)
        assert "unchanged" in out and "version 1" in out, out
        files["b4097"] = rnd.randbytes(4097)
        ru.write(d, "b4097", files["b4097"])
        out = ru.put(d, pool, ns)
        assert re.search(r"version 2: 9 files \(1 sent, 8 unchanged\)", out), out
        got = ru.vmsend("rados", "cat", "b4097", *ru.rados_args(pool, ns), leaks=False).stdout
        assert got == files["b4097"]
        fsck = ru.vmsend("rados", "fsck", *ru.rados_args(pool, ns)).stdout.decode()
        assert re.search(r"version 2: .* 0 broken", fsck), fsck
        # gc --keep 1 drops the old b4097's object, nothing else.
        gc = ru.vmsend("rados", "gc", "--keep", "1", *ru.rados_args(pool, ns)).stdout.decode()
        assert "removed 2 objects" in gc, gc  # the old b4097 object + manifest.1
        s = ru.serve(pool, ns)
        try:
            for name, data in sorted(files.items()):
                r = ru.get(s.port, "/" + name)
                assert r.status == 200 and r.body == data, name
        finally:
            s.stop()
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
