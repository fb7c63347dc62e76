#!/usr/bin/env python3
"""`vmsend serve` flags that change behaviour: --listing, --dotfiles,
--metrics-listen, --no-metrics, several --listen (IPv6 too),
--max-connections, and --mount of an objfs image next to the hostfs root."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Conn, Server, binary, get, make_site, sha  # noqa: E402


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Options(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vmsend-opt-")
        cls.files = make_site(cls.root)
        cls.v6 = have_ipv6()
        listen = ["--listen", "127.0.0.1:0"] + (["--listen", "[::1]:0"] if cls.v6 else [])
        # An objfs image of a few of the site's files, mounted at /img.
        cls.imgsrc = tempfile.mkdtemp(prefix="vmsend-opt-img-")
        for name in ("medium.bin", "hello.txt", "page.bin"):
            shutil.copy(os.path.join(cls.root, name), cls.imgsrc)
        cls.image = cls.imgsrc + ".objfs"
        subprocess.run([binary(), "mkimage", cls.imgsrc, cls.image], check=True, timeout=120,
                       capture_output=True)
        cls.srv = Server(cls.root, "--listing", "--dotfiles", "--metrics-listen", "127.0.0.1:0",
                         "--max-connections", "4", "--mount", "/img=objfs:" + cls.image,
                         *listen, listen=None, threads=1)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            shutil.rmtree(cls.root, ignore_errors=True)
            shutil.rmtree(cls.imgsrc, ignore_errors=True)
            os.unlink(cls.image)

    def test_objfs_mount(self):
        for name in ("medium.bin", "hello.txt", "page.bin"):
            r = get(self.srv.port, "/img/" + name)
            self.assertEqual(r.status, 200, name)
            self.assertEqual(sha(r.body), sha(self.files[name]), name)
        r = get(self.srv.port, "/img/medium.bin", {"Range": "bytes=70000-70009,-3"})
        self.assertEqual(r.status, 206)
        self.assertIn(self.files["medium.bin"][70000:70010], r.body)
        self.assertEqual(get(self.srv.port, "/img/nope").status, 404)
        m = get(self.srv.metrics_port, "/.vmsend/metrics").body
        self.assertRegex(m, rb'vmsend_arc_misses_total\{arc="[^"]*"\} [1-9]')

    def test_listing(self):
        r = get(self.srv.port, "/noindex/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("content-type"), "text/html; charset=utf-8")
        self.assertIn(b'<a href="a.txt">a.txt</a>', r.body)
        # names are escaped for HTML and percent-encoded in links
        self.assertIn(b'<a href="b%26%3Cc%3E.txt">b&amp;&lt;c&gt;.txt</a>', r.body)
        self.assertNotIn(b"<c>", r.body)
        root = get(self.srv.port, "/")  # has index.html: no listing
        self.assertEqual(root.body, self.files["index.html"])
        d = get(self.srv.port, "/dir/")
        self.assertIn(b'href=".hidden/"', d.body)  # --dotfiles lists them too
        self.assertEqual(get(self.srv.port, "/noindex/", method="HEAD").status, 200)

    def test_dotfiles_served(self):
        r = get(self.srv.port, "/.secret")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.files[".secret"])

    def test_metrics_only_on_its_listener(self):
        self.assertEqual(get(self.srv.port, "/.vmsend/metrics").status, 404)
        r = get(self.srv.metrics_port, "/.vmsend/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn(b"vmsend_http_requests_total", r.body)

    def test_ipv6_listener(self):
        if not self.v6:
            self.skipTest("no IPv6 loopback on this machine")
        c = Conn(self.srv.ports[1], host="::1", family=socket.AF_INET6)
        c.request("GET", "/hello.txt", {"Host": "[::1]"})
        r = c.read_response()
        self.assertEqual(r.body, self.files["hello.txt"])
        c.close()

    def test_max_connections(self):
        # Connections of earlier tests may take a moment to be closed on the server's
        # side: retry each slot until the server serves it.
        held = []
        deadline = time.time() + 30
        while len(held) < 4 and time.time() < deadline:
            c = Conn(self.srv.port)
            try:
                c.request("GET", "/one.bin")
                self.assertEqual(c.read_response().body, b"x")
                held.append(c)
            except (EOFError, ConnectionResetError, BrokenPipeError):
                c.close()
                time.sleep(0.1)
        self.assertEqual(len(held), 4)
        extra = Conn(self.srv.port)
        self.assertTrue(extra.closed_by_peer(10))
        self.assertEqual(extra.buf, b"")
        extra.close()
        for c in held:
            c.close()
        deadline = time.time() + 20
        ok = False
        while time.time() < deadline and not ok:
            try:
                ok = get(self.srv.port, "/one.bin").body == b"x"
            except (EOFError, ConnectionResetError):
                time.sleep(0.1)
        self.assertTrue(ok)


class NoMetrics(unittest.TestCase):
    def test_no_metrics_from_a_config_file(self):
        root = tempfile.mkdtemp(prefix="vmsend-nom-")
        os.mkdir(os.path.join(root, "d"))
        conf = os.path.join(root + ".conf")
        with open(conf, "w") as f:
            f.write("# vmsend serve flags\nno-metrics\n\nlisting   # list directories\n"
                    "idle-timeout 30\n")
        srv = Server(root, "--config", conf, threads=1)
        try:
            self.assertEqual(get(srv.port, "/.vmsend/metrics").status, 404)
            self.assertEqual(get(srv.port, "/d/").status, 200)  # "listing" took effect
        finally:
            self.assertEqual(srv.stop(), 0)
            shutil.rmtree(root, ignore_errors=True)
            os.unlink(conf)
        with open(conf, "w") as f:
            f.write("bogus-flag 1\n")
        try:
            bad = Server(root, "--config", conf, threads=1, expect_fail=True)
            self.assertEqual(bad.proc.returncode, 2)
            self.assertIn("unknown flag '--bogus-flag'", bad.log)
        finally:
            os.unlink(conf)


class Grace(unittest.TestCase):
    def test_stop_cuts_stalled_responses_after_grace(self):
        root = tempfile.mkdtemp(prefix="vmsend-grace-")
        files = make_site(root)
        srv = Server(root, "--grace", "0.5", "--send-timeout", "600", threads=1)
        try:
            stalled = Conn(srv.port, rcvbuf=4096)
            for _ in range(4):
                stalled.request("GET", "/big.bin")  # 32 MiB asked for, never read
            idle = Conn(srv.port)
            time.sleep(0.3)
            srv.proc.send_signal(15)
            # The idle connection is closed at once; the stalled one is cut at the
            # grace period's end, not after the 600 s send timeout.
            self.assertTrue(idle.closed_by_peer(30))
            self.assertEqual(srv.proc.wait(timeout=60), 0)
            got = len(stalled.buf)
            stalled.s.settimeout(10)
            try:
                while True:
                    d = stalled.s.recv(1 << 20)
                    if not d:
                        break
                    got += len(d)
            except (ConnectionResetError, socket.timeout):
                pass
            self.assertLess(got, 4 * len(files["big.bin"]))
            stalled.close()
            idle.close()
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    for test, why in result.skipped:  # the machine lacks something: ctest's skip code, loudly
        print("SKIP: %s: %s" % (test.id(), why))
    sys.exit(77 if result.skipped else 0)
