#!/usr/bin/env python3
"""`vmsend stat` against a real `vmsend serve`: -1 prints one sample and
exits, --json is machine-readable, the numbers come from the server (requests
made during the interval show as requests/s, a miss then a hit as a page-cache
hit ratio), and an address with no server is a clear error, exit 1."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Server, binary, get  # noqa: E402


class Stat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "vmsend-stat-%d" % os.getpid())
        os.makedirs(cls.root, exist_ok=True)
        with open(os.path.join(cls.root, "a.bin"), "wb") as f:
            f.write(os.urandom(300000))
        cls.srv = Server(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        for n in os.listdir(cls.root):
            os.unlink(os.path.join(cls.root, n))
        os.rmdir(cls.root)

    def stat(self, *args):
        return subprocess.run([binary(), "stat", "--server",
                               "127.0.0.1:%d" % (self.srv.metrics_port or self.srv.port)] + list(args),
                              capture_output=True, text=True, timeout=60)

    def sample(self, *args):
        r = self.stat("-1", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        s = json.loads(lines[0])
        for k in ("requests_per_s", "bytes_per_s", "page_cache_hit_ratio", "arc_hit_ratio",
                  "pages_wired", "pages_busy", "io_inflight", "errors", "connections",
                  "thread_connections"):
            self.assertIn(k, s)
        return s

    def test_json_idle_server(self):
        # Nothing but stat's own metrics fetches: no page lookups, nothing wired or in flight.
        s = self.sample("--interval", "0.3")
        self.assertIsNone(s["page_cache_hit_ratio"])
        self.assertIsNone(s["arc_hit_ratio"], "no objfs mount: no ARC reads")
        self.assertEqual((s["pages_wired"], s["pages_busy"], s["io_inflight"], s["errors"]),
                         (0, 0, 0, 0))
        self.assertGreater(s["requests_per_s"], 0, "the second metrics fetch is a request")
        # stat's own fetch is a connection; the server runs 2 threads (Server's default).
        self.assertGreaterEqual(s["connections"], 1)
        self.assertEqual(len(s["thread_connections"]), 2, s)
        self.assertGreaterEqual(sum(s["thread_connections"]), 1, s)

    def test_json_under_load(self):
        stop = threading.Event()

        def load():
            while not stop.is_set():
                get(self.srv.port, "/a.bin")
        t = threading.Thread(target=load)
        t.start()
        try:
            s = self.sample("--interval", "1")
        finally:
            stop.set()
            t.join()
        self.assertGreater(s["requests_per_s"], 0)
        self.assertGreater(s["bytes_per_s"], 0)
        if s["page_cache_hit_ratio"] is not None:  # None only if no GET landed in the window
            self.assertGreater(s["page_cache_hit_ratio"], 0)
            self.assertLessEqual(s["page_cache_hit_ratio"], 1)
        self.assertEqual(s["errors"], 0)

    def test_table_header_and_rows(self):
        r = self.stat("--count", "2", "--interval", "0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3, r.stdout)
        self.assertEqual(lines[0].split(), ["time", "req/s", "MB/s", "pc_hit", "arc_hit",
                                            "wired", "busy", "io", "ra_pg", "conns", "errors"])
        self.assertEqual(len(lines[1].split()), 11)
        self.assertGreaterEqual(int(lines[1].split()[9]), 1, "stat's own connection is open")

    def test_no_server_is_a_clear_error(self):
        r = subprocess.run([binary(), "stat", "-1", "--server", "127.0.0.1:1"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read http://127.0.0.1:1/.vmsend/metrics", r.stderr)
        self.assertEqual(r.stdout, "")
        # The address alone, without --server, names the server too.
        r = subprocess.run([binary(), "stat", "-1", "127.0.0.1:1"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read http://127.0.0.1:1/.vmsend/metrics", r.stderr)


if __name__ == "__main__":
    unittest.main()
