#!/usr/bin/env python3
"""cephx: a second dev cluster (auth cephx, pools vmsend and other), started
and stopped by this test, and a client key whose caps allow only pool vmsend.
1. With that key (CEPH_ARGS="--id vmsend", the keyring named by the conf),
   `vmsend rados put` and `vmsend serve --mount /=rados:vmsend --ceph-conf`
   work and serve byte-exact; the restricted key cannot put into pool other
   (clear error, exit non-zero).
2. A wrong key, a missing keyring and an unknown client name: `serve` and
   `rados put` exit non-zero within seconds with a message naming the problem
   (the client name and the connect error), never hang."""
import os
import subprocess
import tempfile
import time

import rados_util as ru

def ceph(d, *args):
    p = subprocess.run(["ceph", "-c", os.path.join(d, "ceph.conf")] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, "ceph %s: %s" % (" ".join(args), p.stderr.decode())
    return p.stdout


def conf_with_keyring(d, name, keyring):
    """A copy of the cluster's ceph.conf whose keyring line points at keyring."""
    with open(os.path.join(d, "ceph.conf")) as f:
        text = f.read()
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text.replace("keyring = %s/$name.keyring" % d, "keyring = " + keyring))
    return path


def refused(what, argv, env, needles):
    """argv must exit non-zero within 30 s, its stderr naming every needle."""
    t0 = time.time()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=env)
    err = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
    assert p.returncode != 0, "%s: exit 0\n%s" % (what, err)
    for n in needles:
        assert n in err, "%s: %r not in the message:\n%s" % (what, n, err)
    line = [l for l in err.splitlines() if needles[0] in l][0]
    print("%s: exit %d after %.1f s: %s" % (what, p.returncode, time.time() - t0, line.strip()),
          flush=True)


def main():
    rnd = ru.own_cluster_test()
    top = tempfile.mkdtemp(prefix="vmsend-cephx-")
    d = os.path.join(top, "cluster")
    try:
        ru.cluster_cmd("start", d, "--cephx", "--pool", "vmsend", "--pool", "other")
        ru.CEPH = d
        conf = ru.conf()
        # A key for client.vmsend that may read and write pool vmsend only.
        ceph(d, "auth", "get-or-create", "client.vmsend", "mon", "allow r", "osd",
             "allow rw pool=vmsend", "-o", os.path.join(d, "client.vmsend.keyring"))
        src = os.path.join(top, "tree")
        files = ru.make_tree(src, rnd.randrange(1 << 30))
        os.environ["CEPH_ARGS"] = "--id vmsend"

        # 1. The right key.
        out = ru.put(src, "vmsend", "", "--stripe-size", "1M")
        print("put as client.vmsend: " + out.strip().splitlines()[-1], flush=True)
        s = ru.serve("vmsend", "")
        try:
            for name, data in files.items():
                r = ru.get(s.port, "/" + name)
                assert r.status == 200 and r.body == data, "%s: %d" % (name, r.status)
            for _ in range(20):
                name = rnd.choice([n for n in files if files[n]])
                a = rnd.randrange(len(files[name]))
                b = rnd.randrange(a, len(files[name]))
                r = ru.get(s.port, "/" + name, {"Range": "bytes=%d-%d" % (a, b)})
                assert r.status == 206 and r.body == files[name][a:b + 1], (name, a, b, r.status)
        finally:
            s.stop()
        print("serve as client.vmsend: %d files and 20 ranges byte-exact" % len(files), flush=True)
        # The caps stop at the pool: no write into pool other.
        refused("put into pool other with caps for vmsend only",
                [ru.binary(), "rados", "put", src, "--pool", "other", "--ceph-conf", conf],
                dict(os.environ), ["Operation not permitted"])

        # 2. Keys that must not get in.
        bad = os.path.join(d, "wrong.keyring")
        subprocess.run(["ceph-authtool", "--create-keyring", bad, "--gen-key", "-n",
                        "client.vmsend"], check=True, stdout=subprocess.DEVNULL)
        cases = [("wrong key", conf_with_keyring(d, "wrong.conf", bad), "--id vmsend",
                  "as client.vmsend"),
                 ("missing keyring", conf_with_keyring(d, "nokey.conf", os.path.join(d, "nope")),
                  "--id vmsend", "as client.vmsend"),
                 ("unknown client", conf, "--id nobody", "as client.nobody")]
        for what, c, args, who in cases:
            env = dict(os.environ, CEPH_ARGS=args)
            refused("serve, " + what,
                    [ru.binary(), "serve", "--allow-root", "--listen", "127.0.0.1:0", "--mount",
                     "/=rados:vmsend", "--ceph-conf", c], env, ["cannot connect", who])
            refused("rados put, " + what,
                    [ru.binary(), "rados", "put", src, "--pool", "vmsend", "--ceph-conf", c], env,
                    ["cannot connect", who])
    finally:
        ru.cluster_cmd("stop", d, check=False)
        subprocess.run(["rm", "-rf", top])
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
