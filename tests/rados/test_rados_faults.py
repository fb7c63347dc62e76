#!/usr/bin/env python3
"""Faults under a RADOS mount:
1. an object overwritten with `rados put` (same length, other bytes): a read
   of it is EIO (the client gets no wrong byte: a cut or an error status), the
   log names the object, fsck names it and exits 1, `rados cat` fails;
2. the OSD frozen (SIGSTOP: it answers nothing) in the middle of a stream: the client's connection is cut,
   no page stays wired, the server keeps serving its hostfs mount and answers
   503 for the rados mount while the cluster is down; after the OSD resumes,
   requests succeed again with the right bytes, without a server restart."""
import os
import random
import re
import tempfile
import time

import rados_util as ru


def main():
    ru.setup()
    seed = int(os.environ.get("VMSEND_TEST_SEED", random.randrange(1 << 30)))
    print("seed %d (VMSEND_TEST_SEED=%d replays)" % (seed, seed), flush=True)
    rnd = random.Random(seed)
    pool, ns = "vmsend", ru.new_namespace("faults")
    with tempfile.TemporaryDirectory(prefix="vmsend-rados-") as d, \
            tempfile.TemporaryDirectory(prefix="vmsend-hostfs-") as h:
        files = {"victim.bin": rnd.randbytes(300_000), "big.bin": rnd.randbytes(32 << 20),
                 "other.bin": rnd.randbytes(1 << 20)}
        for n, b in files.items():
            ru.write(d, n, b)
        ru.write(h, "local.txt", b"served from the host\n")
        ru.put(d, pool, ns, "--stripe-size", "1M")

        # 1. Corruption.
        st = ru.vmsend("rados", "stat", "victim.bin", *ru.rados_args(pool, ns),
                       leaks=False).stdout.decode()
        oid = re.search(r"^  (\S+)\s+300000 bytes", st, re.M).group(1)
        bad = bytearray(files["victim.bin"])
        bad[200_000] ^= 0xff
        with tempfile.NamedTemporaryFile() as f:
            f.write(bad)
            f.flush()
            ru.rados_cli("-p", pool, "-N", ns, "put", oid, f.name)
        s = ru.serve(pool, ns, "--mount", "/h=hostfs:" + h, "--cache-size", "64M")
        try:
            c = ru.Conn(s.port)
            c.request("GET", "/victim.bin")
            status, got, cut = ru.read_all_or_cut(c, len(bad))
            c.close()
            assert cut or status != 200, "a corrupt object was served whole (status %s)" % status
            assert got == files["victim.bin"][:len(got)] or status != 200, "wrong bytes served"
            assert len(got) <= 196608, "bytes of the corrupt chunk reached the client"
            assert re.search(r"checksum mismatch in object %s .*chunk 3" % re.escape(oid), s.log), s.log
            r = ru.get(s.port, "/other.bin")
            assert r.status == 200 and r.body == files["other.bin"]
            print("corrupt object: client got %s (%d bytes, cut=%s), log names %s"
                  % (status, len(got), cut, oid), flush=True)
        finally:
            s.stop()
        p = ru.vmsend("rados", "fsck", *ru.rados_args(pool, ns), check=False)
        out = p.stdout.decode()
        assert p.returncode == 1 and re.search(r"BROKEN object %s \(victim.bin, stripe 0" % oid, out), out
        assert " 1 broken" in out, out
        p = ru.vmsend("rados", "cat", "victim.bin", *ru.rados_args(pool, ns), check=False, leaks=False)
        assert p.returncode != 0 and "Input/output error" in p.err, p.err
        print("fsck names it: " + [l for l in out.splitlines() if "BROKEN" in l][0], flush=True)

        # 2. The OSD freezes in the middle of a stream.
        s = ru.serve(pool, ns, "--mount", "/h=hostfs:" + h, "--cache-size", "128M")
        try:
            ru.outage(s, files, lambda: ru.cluster_cmd("osd-freeze", ru.CEPH), "OSD frozen")
            t2 = time.time()
            ru.cluster_cmd("osd-thaw", ru.CEPH)
            ru.served_again(s, files, "the OSD resumed", t2)
        except BaseException:
            print("server log:\n" + s.log)
            raise
        finally:
            ru.cluster_cmd("osd-thaw", ru.CEPH, check=False)
            s.stop()
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
