#!/usr/bin/env python3
"""Running `vmsend serve` in production: SIGHUP reloads --config under wrk
load without a failed request (new connections see the new settings, open
ones keep theirs), a bad config is refused while the old one keeps serving,
SIGUSR1 reopens the logs after a rename, --check-config, socket activation
through LISTEN_FDS/LISTEN_PID, and the privilege drop seen in /proc."""
import ctypes
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Conn, Server, binary, get, make_cert, make_site  # noqa: E402
from test_https import TConn, client_ctx  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)  # a reload never reads half a file


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def wait_file(path, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in read(path):
            return True
        time.sleep(0.05)
    raise AssertionError("no %r in %s" % (text, path))


def server_side(pid, client):
    """The server's own socket of client's connection, taken with pidfd_getfd(2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir("/proc/%d/fd" % pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            fd = libc.syscall(438, pidfd, int(name), 0)  # SYS_pidfd_getfd
            if fd < 0:
                raise OSError(ctypes.get_errno(), "pidfd_getfd")
            s = socket.socket(fileno=fd)
            try:
                if s.family == socket.AF_INET and s.getpeername() == client.getsockname():
                    return s
            except OSError:
                pass  # a listener or an unconnected socket
            s.close()
    finally:
        os.close(pidfd)
    raise AssertionError("the server holds no socket connected to %s" % (client.getsockname(),))


def tcp_options(s):
    return (s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))


def no_sanitizer(tc, srv):
    for w in ("AddressSanitizer", "ThreadSanitizer", "runtime error", "LeakSanitizer"):
        tc.assertNotIn(w, srv.log)


class Reload(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vmsend-reload-")
        self.files = make_site(self.root)
        self.other = tempfile.mkdtemp(prefix="vmsend-reload-m2-")
        with open(os.path.join(self.other, "m2.txt"), "wb") as f:
            f.write(b"second mount\n")
        self.cfg = os.path.join(self.root + "-cfg", "vmsend.conf")
        os.makedirs(os.path.dirname(self.cfg))
        self.srv = None

    def tearDown(self):
        if self.srv is not None:
            rc = self.srv.stop()
            self.assertEqual(rc, 0, self.srv.log[-4000:])
            no_sanitizer(self, self.srv)
        for d in (self.root, self.other, os.path.dirname(self.cfg)):
            shutil.rmtree(d, ignore_errors=True)

    def start(self, text, *flags):
        write(self.cfg, text)
        self.srv = Server(self.root, "--config", self.cfg, *flags)
        return self.srv

    def reload(self, n):
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_log("SIGHUP: reloading", n)

    def test_reload_under_load(self):
        if shutil.which("wrk") is None:
            self.skipTest("wrk is not installed (scripts/deps.sh installs it)")
        srv = self.start("# generation one\nheader /* X-Gen: one\n")
        self.assertEqual(get(srv.port, "/hello.txt").h("x-gen"), "one")
        old = Conn(srv.port)  # a keep-alive connection from before the reload
        old.request("GET", "/hello.txt")
        self.assertEqual(old.read_response().h("x-gen"), "one")
        wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d4s", "--timeout", "10s",
                                srv.url("/page.bin")], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        p2 = free_port()
        write(self.cfg, "header /* X-Gen: two\nlisten 127.0.0.1:%d\nmount /m2=hostfs:%s\n"
              % (p2, self.other))
        self.reload(1)
        srv.wait_log("vmsend: reloaded")
        time.sleep(1)
        # back to one listener while wrk still runs on the first
        write(self.cfg, "header /* X-Gen: three\n")
        self.reload(2)
        srv.wait_log("vmsend: reloaded", 2)
        out = wrk.communicate(timeout=60)[0]
        print(out)
        m = re.search(r"(\d+) requests in", out)
        self.assertTrue(m and int(m.group(1)) > 0, out)
        self.assertNotIn("Socket errors", out)
        self.assertNotIn("Non-2xx", out)
        # new connections get the newest settings; the old connection kept its own
        self.assertEqual(get(srv.port, "/hello.txt").h("x-gen"), "three")
        old.request("GET", "/hello.txt")
        self.assertEqual(old.read_response().h("x-gen"), "one")
        old.close()
        # the second listener came and went; the mount too
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", p2), timeout=5).close()
        # every thread let the dropped socket go quietly (one thread's shutdown ends
        # the others' accepts on the shared socket)
        self.assertNotIn("accept:", srv.log)
        self.assertEqual(get(srv.port, "/m2/m2.txt").status, 404)

    def test_reload_adds_listener_and_mount(self):
        srv = self.start("header /* X-Gen: one\n")
        p2 = free_port()
        write(self.cfg, "header /* X-Gen: two\nlisten 127.0.0.1:%d\nmount /m2=hostfs:%s\n"
              "listing\n" % (p2, self.other))
        self.reload(1)
        srv.wait_log("vmsend: reloaded")
        self.assertIn("listening on 127.0.0.1:%d (port %d)" % (p2, p2), srv.log)
        for port in (srv.port, p2):
            r = get(port, "/m2/m2.txt")
            self.assertEqual((r.status, r.body, r.h("x-gen")), (200, b"second mount\n", "two"))
        self.assertEqual(get(p2, "/m2/").status, 200)  # listing is on now

    def test_reload_mounts_a_new_image_moved_over_the_old_one(self):
        # Publishing an objfs site: mkimage to a new file, mv it over the
        # mounted path, SIGHUP.  The reload kept the mount (same spec) and
        # served the old image until a restart.
        for rel, body in (("s1", b"one\n"), ("s2", b"two\n")):
            os.makedirs(os.path.join(self.other, rel))
            write(os.path.join(self.other, rel, "index.txt"), body.decode())
        img = os.path.join(self.other, "site.img")
        subprocess.run([binary(), "mkimage", os.path.join(self.other, "s1"), img], check=True,
                       stdout=subprocess.DEVNULL)
        srv = self.start("mount /img=objfs:%s\n" % img)
        self.assertEqual(get(srv.port, "/img/index.txt").body, b"one\n")
        subprocess.run([binary(), "mkimage", os.path.join(self.other, "s2"), img + ".new"],
                       check=True, stdout=subprocess.DEVNULL)
        os.rename(img + ".new", img)
        self.reload(1)
        srv.wait_log("vmsend: reloaded")
        self.assertIn("changed since it was mounted at /img: mounting it again", srv.log)
        self.assertEqual(get(srv.port, "/img/index.txt").body, b"two\n")
        self.reload(2)  # unchanged now: kept, with its cache
        srv.wait_log("vmsend: reloaded", 2)
        self.assertEqual(srv.log.count("mounting it again"), 1)
        self.assertEqual(get(srv.port, "/img/index.txt").body, b"two\n")

    def test_accepted_sockets_inherit_the_listener_options(self):
        """TCP_NODELAY and TCP_USER_TIMEOUT (--send-timeout) are set once on the
        listening socket and every accepted connection has them; a reload that
        changes the send timeout sets them again on the listener it keeps."""
        srv = self.start("send-timeout 7\n")

        def accepted():
            c = Conn(srv.port)
            c.request("GET", "/hello.txt")
            self.assertEqual(c.read_response().status, 200)
            s = server_side(srv.proc.pid, c.s)
            opts = tcp_options(s)
            s.close()
            return c, opts
        old, opts = accepted()
        self.assertEqual(opts, (True, 7000))
        write(self.cfg, "send-timeout 9.5\n")
        self.reload(1)
        srv.wait_log("vmsend: reloaded")
        new, opts = accepted()
        self.assertEqual(opts, (True, 9500))
        s = server_side(srv.proc.pid, old.s)
        self.assertEqual(tcp_options(s), (True, 7000))  # an open connection keeps its own
        s.close()
        old.close()
        new.close()

    def test_bad_config_refused(self):
        srv = self.start("header /* X-Gen: one\n")
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        bad = [
            "header /* X-Gen: two\nno-such-flag\n",
            "header /* X-Gen: two\nmount /gone=hostfs:/nonexistent/vmsend-test\n",
            "header /* X-Gen: two\nlisten 127.0.0.1:%d\n" % busy.getsockname()[1],
            "header /* X-Gen: two\nheader /* Bad\n",
            "header /* X-Gen: two\naccess-log /nonexistent/dir/access.log\n",
        ]
        for i, text in enumerate(bad, 1):
            write(self.cfg, text)
            self.reload(i)
            srv.wait_log("reload refused", i)
            r = get(srv.port, "/hello.txt")
            self.assertEqual((r.status, r.h("x-gen")), (200, "one"), text)
        busy.close()
        self.assertNotIn("vmsend: reloaded", srv.log)
        # the config file itself vanishing is refused too
        os.unlink(self.cfg)
        self.reload(len(bad) + 1)
        srv.wait_log("reload refused", len(bad) + 1)
        self.assertEqual(get(srv.port, "/hello.txt").h("x-gen"), "one")

    def test_sigusr1_reopens_logs(self):
        logdir = os.path.dirname(self.cfg)
        alog, elog = os.path.join(logdir, "access.log"), os.path.join(logdir, "error.log")
        srv = self.start("access-log %s\nerror-log %s\n" % (alog, elog))
        self.assertEqual(get(srv.port, "/hello.txt").status, 200)
        self.assertEqual(get(srv.port, "/one.bin").status, 200)
        wait_file(alog, "/one.bin")
        os.rename(alog, alog + ".1")
        os.rename(elog, elog + ".1")
        srv.proc.send_signal(signal.SIGUSR1)
        wait_file(elog, "SIGUSR1: logs reopened")  # the error log moved too
        self.assertEqual(get(srv.port, "/page.bin").status, 200)
        wait_file(alog, "/page.bin")
        # errors after the move land in the new error log
        write(self.cfg, "access-log %s\nerror-log %s\nbogus-flag\n" % (alog, elog))
        srv.proc.send_signal(signal.SIGHUP)
        wait_file(elog, "reload refused")
        new, old = read(alog), read(alog + ".1")
        self.assertIn('"GET /page.bin HTTP/1.1" 200 4096', new)
        self.assertNotIn("/one.bin", new)
        self.assertIn('"GET /one.bin HTTP/1.1" 200 1', old)
        self.assertNotIn("/page.bin", old)
        self.assertNotIn("reload refused", read(elog + ".1"))
        self.assertNotIn("logs reopened", read(elog + ".1"))

    def test_reload_certificates(self):
        """SIGHUP reads the certificates again: a new connection gets the new one, a
        connection from before keeps its session, and a bad pair is refused (the old
        certificates keep serving), as --check-config refuses it."""
        d = os.path.dirname(self.cfg)
        one = make_cert(d, "one", "localhost")
        two = make_cert(d, "two", "localhost")
        conf = "listen-tls 127.0.0.1:0\ntls-cert %s\ntls-key %s\n"
        srv = self.start(conf % one)
        tport = srv.ports[1]

        def served_cert(cafile):
            c = TConn(tport, client_ctx(cafile))
            c.request("GET", "/hello.txt")
            self.assertEqual(c.read_response().body, self.files["hello.txt"])
            der = c.s.getpeercert(binary_form=True)
            c.close()
            return der

        def der(pem):
            return ssl.PEM_cert_to_DER_cert(read(pem))

        self.assertEqual(served_cert(one[0]), der(one[0]))
        old = TConn(tport, client_ctx(one[0]))  # keep-alive, from before the reload
        old.request("GET", "/hello.txt")
        self.assertEqual(old.read_response().body, self.files["hello.txt"])
        write(self.cfg, conf % two)
        self.reload(1)
        srv.wait_log("vmsend: reloaded")
        self.assertEqual(served_cert(two[0]), der(two[0]))
        with self.assertRaises(ssl.SSLError):  # the old certificate is no longer offered
            served_cert(one[0])
        old.request("GET", "/page.bin")  # the old connection still works on its session
        self.assertEqual(old.read_response().body, self.files["page.bin"])
        self.assertEqual(old.s.getpeercert(binary_form=True), der(one[0]))
        old.close()
        # a key that does not match its certificate: refused, naming the files
        bad = conf % (two[0], one[1])
        write(self.cfg, bad)
        self.reload(2)
        srv.wait_log("reload refused", 1)
        self.assertIn("--tls-key %s does not match --tls-cert %s" % (one[1], two[0]), srv.log)
        self.assertEqual(served_cert(two[0]), der(two[0]))
        r = subprocess.run([binary(), "serve", "--allow-root", "--check-config", "--config",
                            self.cfg], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not match", r.stderr)

    def test_check_config(self):
        good = "listen 127.0.0.1:0\nmount /m2=hostfs:%s\nheader *.html Cache-Control: no-cache\n" \
            % self.other
        write(self.cfg, good)
        r = subprocess.run([binary(), "serve", "--allow-root", "--check-config", "--config",
                            self.cfg], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)
        for text in ("mount /m2=hostfs:/nonexistent/vmsend\n", "listen nohost:port\n",
                     "expires *.css forever\n", "threads 0\n",
                     # more than the machine has (a running server's cache cannot fail it)
                     "cache-size 100000G\n"):
            write(self.cfg, text)
            r = subprocess.run([binary(), "serve", "--allow-root", "--check-config", "--config",
                                self.cfg], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, text)
            self.assertTrue(r.stderr.strip(), text)
            if text.startswith("cache-size"):
                self.assertRegex(r.stderr, r"are in the machine \(MemTotal\)|memory cgroup")
        # nothing was started: a check binds nothing
        self.assertNotIn("listening", r.stdout)

    def test_a_config_error_names_its_line_and_a_value_stays_on_its_line(self):
        def check(text):
            write(self.cfg, text)
            return subprocess.run([binary(), "serve", "--allow-root", "--check-config",
                                   "--config", self.cfg], capture_output=True, text=True,
                                  timeout=60)
        for text, line, why in (
                ("# site\nlisten 127.0.0.1:0\n\nlistng\n", 4, "unknown flag '--listng'"),
                ("listen 127.0.0.1:0\nthreads 0\n", 2, "--threads wants 1..1024"),
                # "root" took the next line's "listing" as its directory
                ("listen 127.0.0.1:0\nroot\nlisting\n", 2, "--root needs a value"),
                # "yes" was read as a flag of its own
                ("listen 127.0.0.1:0\nlisting yes\n", 2, "'listing' takes no value"),
                # a longer line was cut and its end read as another line
                ("listen 127.0.0.1:0\nheader *.html X-Long: %s\n" % ("v" * 20000), 2,
                 "line longer than")):
            r = check(text)
            self.assertEqual(r.returncode, 2, text[:80])
            self.assertIn("%s:%d: %s" % (self.cfg, line, why), r.stderr)
        # A long header value within the limit is one line and valid.
        r = check("listen 127.0.0.1:0\nheader *.html X-Long: %s\n" % ("v" * 8000))
        self.assertEqual(r.returncode, 0, r.stderr)
        # An error on the command line names no line.
        write(self.cfg, "listen 127.0.0.1:0\n")
        r = subprocess.run([binary(), "serve", "--allow-root", "--check-config", "--config",
                            self.cfg, "--threads", "0"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("vmsend serve: --threads wants 1..1024", r.stderr)


class Process(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vmsend-proc-")
        self.files = make_site(self.root)
        self.srv = None

    def tearDown(self):
        if self.srv is not None:
            self.assertEqual(self.srv.stop(), 0, self.srv.log[-4000:])
            no_sanitizer(self, self.srv)
        shutil.rmtree(self.root, ignore_errors=True)

    def test_listen_fds(self):
        """Socket activation without systemd: we bind, hand fd 3 over with LISTEN_FDS."""
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        port = s.getsockname()[1]
        launcher = ["sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' % s.fileno(),
                    "launch"]
        self.srv = Server(self.root, listen=None, wrapper=launcher, pass_fds=(s.fileno(),))
        self.assertEqual(tcp_options(s), (True, 30000))  # set on the socket we handed over
        s.close()
        self.assertEqual(self.srv.ports, [port])
        self.assertIn("listening on fd:3 (port %d)" % port, self.srv.log)
        r = get(port, "/hello.txt")
        self.assertEqual((r.status, r.body), (200, self.files["hello.txt"]))
        with open("/proc/%d/environ" % self.srv.proc.pid, "rb") as f:
            env = f.read()
        self.assertIn(b"LISTEN_FDS=1", env)  # the kernel's copy; our getenv() no longer has it

    def test_sd_notify(self):
        """Type=notify without systemd: READY, RELOADING, READY, STOPPING and WATCHDOG
        arrive on NOTIFY_SOCKET."""
        path = os.path.join(self.root + "-notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(30)
        try:
            launcher = ["sh", "-c", 'NOTIFY_SOCKET=%s WATCHDOG_USEC=200000 WATCHDOG_PID=$$ '
                        'exec "$@"' % path, "launch"]
            srv = self.srv = Server(self.root, wrapper=launcher)

            def until(word):
                seen = []
                while True:
                    msg = ns.recv(4096).decode()
                    seen.append(msg)
                    if word in msg.split("\n"):
                        return seen
            first = until("READY=1")
            self.assertIn("MAINPID=%d" % srv.proc.pid, "\n".join(first))
            self.assertTrue(any("WATCHDOG=1" in m for m in until("WATCHDOG=1")))
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(any("RELOADING=1" in m for m in until("READY=1")))
            self.assertEqual(get(srv.port, "/hello.txt").status, 200)
            srv.proc.send_signal(signal.SIGTERM)
            until("STOPPING=1")
        finally:
            ns.close()
            os.unlink(path)

    def test_listen_fds_other_pid_ignored(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        launcher = ["sh", "-c", 'exec 3<&%d; LISTEN_PID=1 LISTEN_FDS=1 exec "$@"' % s.fileno(),
                    "launch"]
        self.srv = Server(self.root, wrapper=launcher, pass_fds=(s.fileno(),))
        self.assertNotEqual(self.srv.port, s.getsockname()[1])
        s.close()

    def memory_cgroup(self, limit):
        """A new memory cgroup limited to `limit` bytes (v2, or v1's memory controller),
        and the wrapper that starts vmsend in it; removed at cleanup."""
        try:
            with open("/sys/fs/cgroup/cgroup.controllers") as f:
                v2 = "memory" in f.read().split()
        except OSError:
            v2 = False
        if v2:
            base, ctl = "/sys/fs/cgroup", "memory.max"
        elif os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
            base, ctl = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
        else:
            self.skipTest("no memory cgroup controller here")
        d = os.path.join(base, "vmsend-test-%d" % os.getpid())
        try:
            os.mkdir(d)
            with open(os.path.join(d, ctl), "w") as f:
                f.write(str(limit))
        except OSError as e:
            if os.path.isdir(d):
                os.rmdir(d)
            self.skipTest("cannot make a memory cgroup under %s: %s" % (base, e))
        self.addCleanup(os.rmdir, d)
        return d, ["sh", "-c", 'echo $$ > %s/cgroup.procs && exec "$@"' % d, "launch"]

    def test_cache_larger_than_the_memory_cgroup_is_refused(self):
        """A container's memory limit below the cache: a clear error at start, where the
        kernel's OOM killer would otherwise end vmsend with no word; a cache that fits
        starts under the same limit."""
        if os.geteuid() != 0:
            self.skipTest("making a memory cgroup needs root")
        d, launcher = self.memory_cgroup(1 << 30)
        s = Server(self.root, "--cache-size", "2G", wrapper=launcher, expect_fail=True)
        self.assertEqual(s.proc.returncode, 1, s.log)  # not -9: nothing was killed
        self.assertIn("a 2048 MiB cache needs about 2144 MiB, but the memory cgroup /%s is "
                      "limited to 1024 MiB" % os.path.basename(d), s.log)
        self.assertIn("give a smaller --cache-size", s.log)
        self.srv = Server(self.root, "--cache-size", "128M", wrapper=launcher)
        self.assertEqual(get(self.srv.port, "/hello.txt").status, 200)

    def test_cache_larger_than_available_memory_is_refused(self):
        with open("/proc/meminfo") as f:
            avail = int(re.search(r"MemAvailable:\s+(\d+) kB", f.read()).group(1)) >> 10
        s = Server(self.root, "--cache-size", "%dM" % (avail + 1024), expect_fail=True)
        self.assertEqual(s.proc.returncode, 1, s.log)
        self.assertIn("MiB are available (MemAvailable)", s.log)

    def fd_limited(self, n):
        """A server that may hold only n descriptors (ulimit -n, soft and hard), with
        200 more small files to open."""
        for i in range(200):
            with open(os.path.join(self.root, "f%d.txt" % i), "w") as f:
                f.write("file %d\n" % i)
        self.srv = Server(self.root, wrapper=["sh", "-c", 'ulimit -n %d && exec "$@"' % n,
                                              "launch"])
        return self.srv

    @staticmethod
    def metric(c, name):
        c.request("GET", "/.vmsend/metrics")
        body = c.read_response().body.decode()
        return int(re.search(r"^%s (\d+)$" % name, body, re.M).group(1))

    def test_connections_leave_descriptors_for_files(self):
        """Under a low ulimit -n, connections get at most 3/4 of the descriptors over
        64, so the ones accepted can still open files (not 500 for everyone); the
        operator is told why --max-connections was lowered.  Each connection asks
        for a file of its own and stays open: an idle connection must not keep its
        file (and the file's descriptor) open."""
        srv = self.fd_limited(200)
        self.assertIn("200 file descriptors (ulimit -n) leave room for 102 connections, "
                      "not the 10000 asked for", srv.log)
        conns = [Conn(srv.port, timeout=5) for _ in range(150)]
        time.sleep(0.5)  # the server has accepted (and refused) them all
        served = 0
        for i, c in enumerate(conns):
            try:
                c.request("GET", "/f%d.txt" % i)
                r = c.read_response()
            except (OSError, EOFError):
                continue  # refused: closed at once
            self.assertEqual((r.status, r.body), (200, b"file %d\n" % i))
            served += 1
        self.assertEqual(served, 102)
        for c in conns:
            c.close()
        self.assertEqual(get(srv.port, "/hello.txt").status, 200)

    def test_accepts_pause_when_out_of_descriptors(self):
        """Out of descriptors (cached files hold most of them), an accept fails at
        once and the connection stays queued: the threads wait 100 ms between
        tries instead of spinning (the old loop made millions of submissions a
        second), and serve again once descriptors come back."""
        srv = self.fd_limited(200)
        c = Conn(srv.port)
        for i in range(120):  # each cached file holds a descriptor
            c.request("GET", "/f%d.txt" % i)
            self.assertEqual(c.read_response().status, 200)
        before = self.metric(c, "vmsend_io_submits_total")
        flood = [Conn(srv.port, timeout=5) for _ in range(100)]
        time.sleep(1)
        submits = self.metric(c, "vmsend_io_submits_total") - before
        self.assertGreater(self.metric(c, "vmsend_http_accept_pauses_total"), 0)
        self.assertLess(submits, 20000, "the accept loop spins")
        self.assertIn("accept: Too many open files", srv.log)
        c.request("GET", "/f150.txt")  # the name cache gives descriptors back
        self.assertEqual(c.read_response().body, b"file 150\n")
        for f in flood:
            f.close()
        c.close()
        self.assertEqual(get(srv.port, "/hello.txt").status, 200)

    def test_privilege_drop(self):
        if os.geteuid() != 0:
            self.skipTest("the privilege drop needs the test to run as root")
        os.chmod(self.root, 0o755)
        self.srv = Server(self.root, "--user", "nobody", "--group", "nogroup",
                          allow_root=False)
        status = open("/proc/%d/status" % self.srv.proc.pid).read()
        uid = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gid = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        self.assertEqual(uid, ["65534"] * 4)
        self.assertEqual(gid, ["65534"] * 4)
        self.assertEqual(groups, ["65534"])
        # every thread, not only the main one
        for tid in os.listdir("/proc/%d/task" % self.srv.proc.pid):
            st = open("/proc/%d/task/%s/status" % (self.srv.proc.pid, tid)).read()
            self.assertRegex(st, r"(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$")
        r = get(self.srv.port, "/hello.txt")
        self.assertEqual((r.status, r.body), (200, self.files["hello.txt"]))
        # The loops pin the page arena as the user: the process keeps
        # CAP_IPC_LOCK (bit 14) and nothing else, so RLIMIT_MEMLOCK does not
        # turn reads into the cache's fixed buffers into plain ones.
        self.assertNotIn("cannot register", self.srv.log)
        for tid in os.listdir("/proc/%d/task" % self.srv.proc.pid):
            st = open("/proc/%d/task/%s/status" % (self.srv.proc.pid, tid)).read()
            eff = int(re.search(r"^CapEff:\s+(\w+)$", st, re.M).group(1), 16)
            prm = int(re.search(r"^CapPrm:\s+(\w+)$", st, re.M).group(1), 16)
            self.assertIn(eff, (0, 1 << 14), tid)
            self.assertIn(prm, (0, 1 << 14), tid)

    def test_what_the_user_cannot_read_is_named_at_start(self):
        if os.geteuid() != 0:
            self.skipTest("the privilege drop needs the test to run as root")
        os.chmod(self.root, 0o755)
        d = tempfile.mkdtemp(prefix="vmsend-keys-")
        try:
            cert, key = make_cert(d, "site", "localhost")
            os.chmod(d, 0o755)
            os.chmod(cert, 0o644)
            os.chmod(key, 0o600)  # root's, as a renewal tool leaves it
            cfg = os.path.join(d, "vmsend.conf")
            with open(cfg, "w") as f:
                f.write("listen-tls 127.0.0.1:0\ntls-cert %s\ntls-key %s\n" % (cert, key))
            os.chmod(cfg, 0o644)
            priv = os.path.join(d, "private")  # root's only: every file would be 403
            os.mkdir(priv, 0o700)
            self.srv = Server(self.root, "--config", cfg, "--user", "nobody", "--group",
                              "nogroup", "--mount", "/p=hostfs:" + priv, allow_root=False)
            self.assertIn("/p=hostfs:%s: nobody cannot search %s (Permission denied): every "
                          "request there will get 403" % (priv, priv), self.srv.log)
            self.assertIn("--tls-key %s is not readable by nobody (Permission denied): a reload "
                          "(SIGHUP) will be refused until it is (chgrp nogroup %s; chmod g+r %s)"
                          % (key, key, key), self.srv.log)
            self.assertEqual(self.srv.log.count("is not readable by"), 1)  # the rest is
            # Readable by the group: the reload goes through.
            shutil.chown(key, group="nogroup")
            os.chmod(key, 0o640)
            self.srv.proc.send_signal(signal.SIGHUP)
            self.srv.wait_log("configuration generation 2 in effect")
            # A new privileged port cannot be bound without root: the reload says so.
            with open(cfg, "a") as f:
                f.write("listen 127.0.0.1:1\n")
            self.srv.proc.send_signal(signal.SIGHUP)
            self.srv.wait_log("reload refused")
            self.assertIn("cannot listen on 127.0.0.1:1: Permission denied (a port below 1024 "
                          "needs root: after --user dropped it, only a restart binds a new one)",
                          self.srv.log)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_threads_follow_the_cpus_it_may_use(self):
        # A thread per online CPU oversubscribes a process pinned to fewer
        # (taskset, CPUAffinity=) or a container given fewer (a CFS quota).
        self.srv = Server(self.root, threads=None, wrapper=["taskset", "-c", "0"])
        self.assertIn("vmsend: 1 thread, ", self.srv.log)
        self.assertEqual(self.srv.stop(), 0)
        self.srv = None
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        parent = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/cpu"
        cg = os.path.join(parent, "vmsend-test-%d" % os.getpid())
        try:
            os.mkdir(cg)
            with open(os.path.join(cg, "cpu.max" if v2 else "cpu.cfs_quota_us"), "w") as f:
                f.write("50000 100000\n" if v2 else "50000\n")
        except OSError as e:
            self.skipTest("cannot make a cgroup with a CPU quota here: %s" % e)
        try:
            launch = ["sh", "-c", 'echo $$ > %s/cgroup.procs && exec "$@"' % cg, "launch"]
            self.srv = Server(self.root, threads=None, wrapper=launch)
            self.assertIn("vmsend: 1 thread, ", self.srv.log)  # half a CPU: one loop
            self.assertEqual(self.srv.stop(), 0)
            self.srv = None
        finally:
            for _ in range(50):  # empty once the server's process is gone
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)

    def test_root_refused(self):
        if os.geteuid() != 0:
            self.skipTest("refusing root needs the test to run as root")
        srv = Server(self.root, allow_root=False, expect_fail=True)
        self.assertEqual(srv.proc.returncode, 2)
        self.assertIn("refusing to serve as root", srv.log)
        srv = Server(self.root, "--user", "no-such-user-vmsend", expect_fail=True)
        self.assertEqual(srv.proc.returncode, 2)
        self.assertIn("no such user", srv.log)


if __name__ == "__main__":
    res = unittest.main(verbosity=2, exit=False).result
    for test, why in res.skipped:
        print("SKIPPED %s: %s" % (test.id(), why))
    # A skipped check is reported to ctest as a skip (77), never as a pass.
    sys.exit(1 if not res.wasSuccessful() else 77 if res.skipped else 0)
