#!/usr/bin/env python3
"""A real OSD restart: a cluster of its own whose OSD keeps its data in a
bluestore file (memstore loses it on restart), started and stopped by this
test.  The OSD is killed (kill -9) in the middle of a stream: the client's
connection is cut after a clean prefix, the rados mount answers 503 with a
log line saying the cluster is unreachable, the hostfs mount is still served
and no page stays wired.  The OSD is started again: the same server, with no
restart, serves the file byte-exact and logs that the cluster answers again."""
import os
import subprocess
import tempfile
import time

import rados_util as ru

def main():
    rnd = ru.own_cluster_test()
    top = tempfile.mkdtemp(prefix="vmsend-restart-")
    d = os.path.join(top, "cluster")
    s = None
    try:
        ru.cluster_cmd("start", d, "--bluestore")
        ru.CEPH = d
        src, h = os.path.join(top, "tree"), os.path.join(top, "host")
        files = {"big.bin": rnd.randbytes(32 << 20), "other.bin": rnd.randbytes(1 << 20)}
        for n, b in files.items():
            ru.write(src, n, b)
        ru.write(h, "local.txt", b"served from the host\n")
        ru.put(src, "vmsend", "", "--stripe-size", "1M")
        s = ru.serve("vmsend", "", "--mount", "/h=hostfs:" + h, "--cache-size", "128M")

        ru.outage(s, files, lambda: ru.cluster_cmd("osd-kill", d), "OSD killed (kill -9)")
        t2 = time.time()
        ru.cluster_cmd("osd-start", d)
        print("osd-start took %.1f s" % (time.time() - t2), flush=True)
        ru.served_again(s, files, "osd-start began", t2)
    except BaseException:
        if s is not None:
            print("server log:\n" + s.log)
        raise
    finally:
        if s is not None:
            s.stop()
        ru.cluster_cmd("stop", d, check=False)
        subprocess.run(["rm", "-rf", top])
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
