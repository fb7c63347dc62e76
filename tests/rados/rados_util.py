"""Helpers for the RADOS tests: the dev cluster the ctest fixture started
(scripts/ceph-dev-cluster.sh), `vmsend rados ...` runs, `rados` CLI calls,
and servers with rados mounts (tests/http/vmsend_http.py).

A test that cannot run (librados not built, no cluster) exits 77, which ctest
reports as skipped, after printing why."""
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
import vmsend_http  # noqa: E402
from vmsend_http import Server, Conn, get, binary  # noqa: E402,F401

SKIP = 77


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(SKIP)


def cluster_dir():
    if os.environ.get("VMSEND_RADOS_BUILT") != "1":
        skip("vmsend was built without librados (apt-get install librados-dev, reconfigure)")
    d = os.environ.get("VMSEND_CEPH_DIR")
    if not d or not os.path.exists(os.path.join(d, "ceph.conf")):
        skip("no dev cluster at %r (the rados_cluster_start fixture did not run or failed)" % d)
    return d


CEPH = None  # the dev cluster's directory


def conf():
    return os.path.join(CEPH, "ceph.conf")


def setup():
    global CEPH
    CEPH = cluster_dir()


def new_namespace(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), random.randrange(1 << 30))


def vmsend(*args, check=True, timeout=120, stdin=None, leaks=True):
    """Run vmsend with args; returns CompletedProcess (stdout bytes, stderr text).
    leaks=False skips LeakSanitizer's exit scan (3 s with librados loaded) for
    runs repeated in a loop; every kind of run is leak-checked at least once."""
    env = dict(os.environ)
    if not leaks:
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = subprocess.run([binary()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, stdin=stdin, env=env)
    err = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError("vmsend %s: exit %d\n%s" % (" ".join(args), p.returncode, err))
    p.err = err
    return p


def rados_args(pool, ns, c=None):
    a = ["--pool", pool, "--ceph-conf", c or conf()]
    if ns:
        a += ["--namespace", ns]
    return a


def put(d, pool, ns, *extra):
    p = vmsend("rados", "put", d, *rados_args(pool, ns), *extra)
    return p.stdout.decode()


def rados_cli(*args, check=True):
    p = subprocess.run(["rados", "-c", conf()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("rados %s: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


def serve(pool, ns, *extra, threads=2):
    spec = "/=rados:%s%s" % (pool, "/" + ns if ns else "")
    return Server(None, "--mount", spec, "--ceph-conf", conf(), *extra, threads=threads)


def write(root, name, data):
    p = os.path.join(root, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def make_tree(root, seed):
    """The hostfs tests' awkward sizes, a sparse file and a multi-object file.
    Returns {name: bytes}."""
    rnd = random.Random(seed)
    files = {}
    for name, size in [("empty", 0), ("one", 1), ("b511", 511), ("b4095", 4095),
                       ("b4096", 4096), ("b4097", 4097), ("sub/big", (3 << 20) + 123),
                       ("sub/deeper/multi", (9 << 20) + 5)]:
        files[name] = rnd.randbytes(size)
    # Data at the start, around 1 MiB and at the end; holes between (as test_hostfs_pager).
    size = (2 << 20) + 777
    sp = bytearray(size)
    sp[0:5000] = rnd.randbytes(5000)
    sp[(1 << 20) - 100:(1 << 20) + 9000] = rnd.randbytes(9100)
    sp[size - 3000:] = rnd.randbytes(3000)
    files["sparse"] = bytes(sp)
    for name, data in files.items():
        write(root, name, data)
    return files


def metric(s, name):
    m = get(s.port, "/.vmsend/metrics").body.decode()
    return int(re.search(r"^%s (\d+)" % name, m, re.M).group(1))


def read_all_or_cut(c, want_len):
    """Read a response to the end; returns (status, body bytes, cut?)."""
    while b"\r\n\r\n" not in c.buf:
        try:
            c._fill()
        except (EOFError, ConnectionResetError):
            return None, b"", True
    head, rest = c.buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    c.buf = rest
    n = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(c.buf) < n:
        try:
            c._fill()
        except (EOFError, ConnectionResetError, OSError):
            return status, c.buf, True
    return status, c.buf[:n], False


SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "ceph-dev-cluster.sh")


def cluster_cmd(*args, check=True):
    """scripts/ceph-dev-cluster.sh ARGS (start DIR, osd-kill DIR, ...)."""
    subprocess.run([SCRIPT] + list(args), check=check, timeout=120)


def own_cluster_test():
    """For a test that starts a cluster of its own: skip (77) without librados
    or the Ceph daemons; print the seed; returns a Random seeded with it."""
    if os.environ.get("VMSEND_RADOS_BUILT") != "1":
        skip("vmsend was built without librados (apt-get install librados-dev, reconfigure)")
    for b in ("ceph-mon", "ceph-osd", "ceph"):
        if subprocess.run(["sh", "-c", "command -v " + b], stdout=subprocess.DEVNULL).returncode:
            skip("%s missing (scripts/deps.sh installs it)" % b)
    seed = int(os.environ.get("VMSEND_TEST_SEED", random.randrange(1 << 30)))
    print("seed %d (VMSEND_TEST_SEED=%d replays)" % (seed, seed), flush=True)
    return random.Random(seed)


def outage(s, files, take_down, what):
    """Stream /big.bin from server s and call take_down() after 2 MiB: the
    stream is cut after a clean prefix, /h/local.txt (hostfs) is still served,
    /other.bin gets 503 with the "unreachable" log line, nothing stays wired."""
    c = Conn(s.port, rcvbuf=65536, timeout=60)
    c.request("GET", "/big.bin")
    while len(c.buf) < (2 << 20):
        c._fill()
    take_down()
    t0 = time.time()
    status, got, cut = read_all_or_cut(c, len(files["big.bin"]))
    c.close()
    assert cut and status == 200, "the stream was not cut (status %s)" % status
    assert got == files["big.bin"][:len(got)], "wrong bytes before the cut"
    print("%s: the stream was cut after %d of %d bytes, %.1f s later"
          % (what, len(got), len(files["big.bin"]), time.time() - t0), flush=True)
    r = get(s.port, "/h/local.txt")
    assert r.status == 200 and r.body == b"served from the host\n"
    deadline = time.time() + 30
    while True:
        t1 = time.time()
        r = get(s.port, "/other.bin")
        if r.status == 503:
            break
        assert time.time() < deadline, "no 503 while the cluster is down (got %d)" % r.status
    print("rados mount answers 503 (in %.3f s) while the cluster is down" % (time.time() - t1),
          flush=True)
    assert "unreachable" in s.log, s.log
    for _ in range(50):
        if metric(s, "vmsend_vm_pages_wired") == 0:
            break
        time.sleep(0.1)
    assert metric(s, "vmsend_vm_pages_wired") == 0, "pages left wired after the cut"


def served_again(s, files, what, t0):
    """After the cluster is back: /big.bin byte-exact within 90 s of t0, and
    the "answers again" log line."""
    while True:
        r = get(s.port, "/big.bin")
        if r.status == 200:
            break
        assert time.time() < t0 + 90, "still %d 90 s after %s" % (r.status, what)
        time.sleep(0.2)
    assert r.body == files["big.bin"], "wrong bytes after " + what
    assert get(s.port, "/other.bin").body == files["other.bin"]
    print("big.bin is served byte-exact again, %.1f s after %s" % (time.time() - t0, what),
          flush=True)
    assert "answers again" in s.log, s.log
