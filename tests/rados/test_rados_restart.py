#!/usr/bin/env python3
"""A real OSD restart: a cluster of its own whose OSD keeps its data in a
bluestore file (memstore loses it on restart), started and stopped by this
test.  The OSD is killed (kill -9) in the middle of a stream: the client's
connection is cut after a clean prefix, the rados mount answers 503 with a
log line saying the cluster is unreachable, the hostfs mount is still served
and no page stays wired.  The OSD is started again: the same server, with no
restart, serves the file byte-exact and logs that the cluster answers again."""
import os
import random
import subprocess
import tempfile
import time

import rados_util as ru

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "ceph-dev-cluster.sh")


def cluster(*args):
    subprocess.run([SCRIPT] + list(args), check=True, timeout=120)


def main():
    if os.environ.get("VMSEND_RADOS_BUILT") != "1":
        ru.skip("vmsend was built without librados (apt-get install librados-dev, reconfigure)")
    for b in ("ceph-mon", "ceph-osd", "ceph"):
        if subprocess.run(["sh", "-c", "command -v " + b], stdout=subprocess.DEVNULL).returncode:
            ru.skip("%s missing (scripts/deps.sh installs it)" % b)
    seed = int(os.environ.get("VMSEND_TEST_SEED", random.randrange(1 << 30)))
    print("seed %d (VMSEND_TEST_SEED=%d replays)" % (seed, seed), flush=True)
    rnd = random.Random(seed)
    top = tempfile.mkdtemp(prefix="vmsend-restart-")
    d = os.path.join(top, "cluster")
    s = None
    try:
        cluster("start", d, "--bluestore")
        ru.CEPH = d
        src, h = os.path.join(top, "tree"), os.path.join(top, "host")
        files = {"big.bin": rnd.randbytes(32 << 20), "other.bin": rnd.randbytes(1 << 20)}
        for n, b in files.items():
            ru.write(src, n, b)
        ru.write(h, "local.txt", b"served from the host\n")
        ru.put(src, "vmsend", "", "--stripe-size", "1M")
        s = ru.serve("vmsend", "", "--mount", "/h=hostfs:" + h, "--cache-size", "128M")

        c = ru.Conn(s.port, rcvbuf=65536, timeout=60)
        c.request("GET", "/big.bin")
        while len(c.buf) < (2 << 20):
            c._fill()
        cluster("osd-kill", d)
        t0 = time.time()
        status, got, cut = ru.read_all_or_cut(c, len(files["big.bin"]))
        c.close()
        assert cut and status == 200, "the stream was not cut (status %s)" % status
        assert got == files["big.bin"][:len(got)], "wrong bytes before the cut"
        print("OSD killed: the stream was cut after %d of %d bytes, %.1f s after the kill"
              % (len(got), len(files["big.bin"]), time.time() - t0), flush=True)
        r = ru.get(s.port, "/h/local.txt")
        assert r.status == 200 and r.body == b"served from the host\n"
        deadline = time.time() + 30
        while True:
            t1 = time.time()
            r = ru.get(s.port, "/other.bin")
            if r.status == 503:
                break
            assert time.time() < deadline, "no 503 while the OSD is down (got %d)" % r.status
        print("rados mount answers 503 (in %.3f s) while the OSD is down" % (time.time() - t1),
              flush=True)
        assert "unreachable" in s.log, s.log
        for _ in range(50):
            if ru.metric(s, "vmsend_vm_pages_wired") == 0:
                break
            time.sleep(0.1)
        assert ru.metric(s, "vmsend_vm_pages_wired") == 0, "pages left wired after the cut"

        t2 = time.time()
        cluster("osd-start", d)
        print("osd-start took %.1f s" % (time.time() - t2), flush=True)
        deadline = time.time() + 90
        while True:
            r = ru.get(s.port, "/big.bin")
            if r.status == 200:
                break
            assert time.time() < deadline, "still %d 90 s after the OSD restarted" % r.status
            time.sleep(0.2)
        assert r.body == files["big.bin"], "wrong bytes after the OSD restarted"
        assert ru.get(s.port, "/other.bin").body == files["other.bin"]
        print("after the restart, big.bin is served byte-exact again, %.1f s after osd-start began"
              % (time.time() - t2), flush=True)
        assert "answers again" in s.log, s.log
    except BaseException:
        if s is not None:
            print("server log:\n" + s.log)
        raise
    finally:
        if s is not None:
            s.stop()
        subprocess.run([SCRIPT, "stop", d], timeout=60)
        subprocess.run(["rm", "-rf", top])
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
