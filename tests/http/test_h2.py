#!/usr/bin/env python3
"""HTTP/2 against a real `vmsend serve --h2c --listen-tls ...`: h2c (prior
knowledge) on the plain listener and h2 by ALPN on the TLS one.

A frame-level client built on Debian's python3-h2 packages (hyperframe for
frames, hpack for header blocks) drives the server frame by frame: many
concurrent streams, ranges, conditionals, HEAD, a stream reset mid-body,
priorities (RFC 9218), and the known attacks (rapid reset, CONTINUATION
flood, HPACK bomb, SETTINGS/PING/empty-frame floods, zero-window stalls,
streams over SETTINGS_MAX_CONCURRENT_STREAMS).  Each attack must end in
the right GOAWAY or RST_STREAM, the server must keep serving, and no page
may stay wired afterwards.  curl, nghttp and h2load check the same server
from the outside.  Requests, Attacks and Stop run twice: over h2c and over
TLS (their *Tls subclasses), where DATA payloads are sealed into records
from the same wired pages.
"""
import base64
import gzip
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import hpack
    from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                                  PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)
except ImportError as e:  # ctest: SKIP_RETURN_CODE 77
    print("SKIP: python3-h2 (hpack, hyperframe) is not installed: %s" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Server, get, make_cert, make_site, sha  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0, 1, 2, 7, 8, 11
MAX_WINDOW = 2**31 - 1

ROOT = None
FILES = None
SRV = None
LOG = None
CERT = KEY = None


def tls_ctx(alpn=("h2",)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CERT)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_flags():
    return ("--listen-tls", "127.0.0.1:0", "--tls-cert", CERT, "--tls-key", KEY)


def setUpModule():
    global ROOT, FILES, SRV, LOG, CERT, KEY
    ROOT = tempfile.mkdtemp(prefix="vmsend-h2-root-")
    os.mkdir(ROOT + "-cert")
    CERT, KEY = make_cert(ROOT + "-cert", "h2", "localhost")
    FILES = make_site(ROOT)
    # Bigger than the 16 MiB cache below: it streams through reclaim.
    with open(os.path.join(ROOT, "huge.bin"), "wb") as f:
        f.write(os.urandom(24 << 20))
    with open(os.path.join(ROOT, "huge.bin"), "rb") as f:
        FILES["huge.bin"] = f.read()
    for i in range(120):
        data = os.urandom(100 + 37 * i)
        FILES["many/f%d" % i] = data
        os.makedirs(os.path.join(ROOT, "many"), exist_ok=True)
        with open(os.path.join(ROOT, "many", "f%d" % i), "wb") as f:
            f.write(data)
    LOG = ROOT + "-access.log"
    SRV = Server(ROOT, "--h2c", *tls_flags(), "--cache-size", "16M", "--send-timeout", "1",
                 "--idle-timeout", "5", "--access-log", LOG)


def tearDownModule():
    try:
        if SRV is not None and SRV.proc.poll() is None:
            SRV.stop()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
        shutil.rmtree(ROOT + "-cert", ignore_errors=True)
        if LOG and os.path.exists(LOG):
            os.unlink(LOG)


def metric_of(srv, name):
    body = get(srv.port, "/.vmsend/metrics").body.decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else -1


def metric(name):
    return metric_of(SRV, name)


def wait_unwired(test):
    """Every page a test's connections wired is unwired soon after they end."""
    deadline = time.time() + 10
    while time.time() < deadline and metric("vmsend_vm_pages_wired") != 0:
        time.sleep(0.05)
    test.assertEqual(metric("vmsend_vm_pages_wired"), 0, "pages still wired")


class H2:
    """A raw HTTP/2 client connection: frames out as given, frames in as parsed."""

    def __init__(self, settings=None, big_windows=True, port=None, tls=False, upgrade=None):
        """tls: over TLS with ALPN h2 (to SRV's TLS listener unless port says otherwise);
        upgrade: a path GET as HTTP/1.1 with "Upgrade: h2c", answered as stream 1."""
        self.tls = tls
        if tls:
            s = socket.create_connection(("127.0.0.1", port or SRV.ports[1]), timeout=10)
            self.s = tls_ctx().wrap_socket(s, server_hostname="localhost")
            if self.s.selected_alpn_protocol() != "h2":
                raise AssertionError("ALPN chose %r, not h2" % self.s.selected_alpn_protocol())
        else:
            self.s = socket.create_connection(("127.0.0.1", port or SRV.port), timeout=10)
        self.buf = b""
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.closed = False
        st = {SettingsFrame.INITIAL_WINDOW_SIZE: MAX_WINDOW} if big_windows else {}
        st.update(settings or {})
        f = SettingsFrame(0)
        f.settings = st
        self.streams = {}  # id -> {"headers": dict, "data": bytearray, "ended": bool, "reset": code}
        self.upgrade_head = None
        if upgrade is not None:
            # RFC 7540 3.2: the same SETTINGS payload, base64url, in HTTP2-Settings.
            b64 = base64.urlsafe_b64encode(f.serialize()[9:]).rstrip(b"=").decode()
            self.s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                            "Upgrade: h2c\r\nHTTP2-Settings: %s\r\n\r\n" % (upgrade, b64)).encode())
            while b"\r\n\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError("closed before the 101")
                self.buf += d
            self.upgrade_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.streams[1] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        out = PREFACE + f.serialize()
        if big_windows:
            out += WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535).serialize()
        self.s.sendall(out)
        self.goaway = None

    def send(self, *frames):
        self.s.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))

    def headers(self, sid, path, method="GET", extra=(), end_stream=True, end_headers=True):
        hdrs = [(":method", method), (":scheme", "https" if self.tls else "http"),
                (":authority", "127.0.0.1"),
                (":path", path)] + list(extra)
        f = HeadersFrame(sid)
        f.data = self.enc.encode(hdrs)
        f.flags = set()
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f

    def get(self, sid, path, extra=(), method="GET"):
        self.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        self.send(self.headers(sid, path, method, extra))

    def _read_frame(self, timeout):
        while True:
            if len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    f.parse_body(memoryview(self.buf[9:9 + length]))
                    self.buf = self.buf[9 + length:]
                    return f
            self.s.settimeout(timeout)
            try:
                chunk = self.s.recv(1 << 20)
            except socket.timeout:
                return None
            except (ConnectionResetError, ssl.SSLError):  # TLS: a cut without close_notify
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk

    def pump(self, until, timeout=10):
        """Read frames until until(self) is true, the peer closes or timeout; returns until(self)."""
        deadline = time.time() + timeout
        while not until(self) and time.time() < deadline and not self.closed:
            f = self._read_frame(max(0.01, deadline - time.time()))
            if f is None:
                continue
            self.on_frame(f)
        return until(self)

    def on_frame(self, f):
        sid = f.stream_id
        st = self.streams.get(sid)
        if isinstance(f, HeadersFrame) or isinstance(f, ContinuationFrame):
            hdrs = dict(self.dec.decode(f.data))
            if st is not None:
                st["headers"] = hdrs
                if "END_STREAM" in f.flags:
                    st["ended"] = True
        elif isinstance(f, DataFrame):
            if st is not None:
                st["data"] += f.data
                if "END_STREAM" in f.flags:
                    st["ended"] = True
        elif isinstance(f, RstStreamFrame):
            if st is None:
                st = self.streams[sid] = {"headers": None, "data": bytearray(), "ended": False,
                                          "reset": None}
            st["reset"] = f.error_code
        elif isinstance(f, GoAwayFrame):
            self.goaway = f
        elif isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            ack = SettingsFrame(0)
            ack.flags.add("ACK")
            try:
                self.send(ack)
            except OSError:
                pass
        elif isinstance(f, PingFrame) and "ACK" not in f.flags:
            pass

    def done(self, sid):
        st = self.streams[sid]
        return st["ended"] or st["reset"] is not None

    def response(self, sid, timeout=20):
        self.pump(lambda c: c.done(sid), timeout)
        return self.streams[sid]

    def close(self):
        self.s.close()


def status(st):
    return int(st["headers"][":status"]) if st["headers"] else None


class Transport:
    """Tests that run over h2c, and again over TLS in a subclass with TLS = True."""
    TLS = False

    def h2(self, **kw):
        return H2(tls=self.TLS, **kw)


class Requests(Transport, unittest.TestCase):
    def test_many_concurrent_streams_byte_exact(self):
        c = self.h2()
        names = ["many/f%d" % i for i in range(100)]
        for i, n in enumerate(names):
            c.get(1 + 2 * i, "/" + n)
        self.assertTrue(c.pump(lambda c: all(c.done(1 + 2 * i) for i in range(100)), 60))
        for i, n in enumerate(names):
            st = c.streams[1 + 2 * i]
            self.assertEqual(status(st), 200, n)
            self.assertEqual(sha(bytes(st["data"])), sha(FILES[n]), n)
            self.assertEqual(st["headers"]["content-length"], str(len(FILES[n])))
        c.close()

    def test_bigger_than_the_cache(self):
        c = self.h2()
        c.get(1, "/huge.bin")
        c.get(3, "/medium.bin")
        st = c.response(1, 120)
        self.assertEqual(status(st), 200)
        self.assertEqual(len(st["data"]), len(FILES["huge.bin"]))
        self.assertEqual(sha(bytes(st["data"])), sha(FILES["huge.bin"]))
        self.assertEqual(sha(bytes(c.response(3)["data"])), sha(FILES["medium.bin"]))
        c.close()
        wait_unwired(self)

    def test_ranges_conditionals_head_errors(self):
        c = self.h2()
        c.get(1, "/medium.bin", [("range", "bytes=100-199")])
        st = c.response(1)
        self.assertEqual(status(st), 206)
        self.assertEqual(bytes(st["data"]), FILES["medium.bin"][100:200])
        self.assertEqual(st["headers"]["content-range"], "bytes 100-199/%d" % len(FILES["medium.bin"]))
        c.get(3, "/medium.bin", [("range", "bytes=0-1,-5")])
        st = c.response(3)
        self.assertEqual(status(st), 206)
        self.assertTrue(st["headers"]["content-type"].startswith("multipart/byteranges"))
        self.assertIn(FILES["medium.bin"][-5:], bytes(st["data"]))
        self.assertEqual(int(st["headers"]["content-length"]), len(st["data"]))
        c.get(5, "/medium.bin", [("range", "bytes=999999999-")])
        self.assertEqual(status(c.response(5)), 416)
        c.get(7, "/medium.bin")
        etag = c.response(7)["headers"]["etag"]
        c.get(9, "/medium.bin", [("if-none-match", etag)])
        st = c.response(9)
        self.assertEqual(status(st), 304)
        self.assertEqual(len(st["data"]), 0)
        c.get(11, "/big.bin", method="HEAD")
        st = c.response(11)
        self.assertEqual(status(st), 200)
        self.assertEqual(st["headers"]["content-length"], str(len(FILES["big.bin"])))
        self.assertEqual(len(st["data"]), 0)
        c.get(13, "/nope")
        self.assertEqual(status(c.response(13)), 404)
        c.get(15, "/hello.txt", method="POST")
        self.assertEqual(status(c.response(15)), 405)
        c.get(17, "/../etc/passwd")
        self.assertIn(status(c.response(17)), (400, 404))
        c.get(19, "/.secret")
        self.assertEqual(status(c.response(19)), 404)
        c.get(21, "/sub")
        st = c.response(21)
        self.assertEqual(status(st), 301)
        self.assertEqual(st["headers"]["location"], "/sub/")
        # No HTTP/1.1 connection fields leak into HTTP/2 (RFC 9113 8.2.2).
        self.assertNotIn("connection", st["headers"])
        c.get(23, "/big.bin", [("if-range", etag), ("range", "bytes=0-9")])
        st = c.response(23)
        self.assertEqual(status(st), 200)  # If-Range names another file's tag
        c.get(25, "/medium.bin", [("if-match", '"other"'), ("range", "bytes=0-1")])
        self.assertEqual(status(c.response(25)), 412)
        c.get(27, "/medium.bin", [("if-match", etag), ("range", "bytes=0-1")])
        self.assertEqual(status(c.response(27)), 206)
        # A method we do not know is 501, as over HTTP/1.1 (methods are case-sensitive).
        for sid, m in ((29, "BREW"), (31, "get")):
            c.get(sid, "/hello.txt", method=m)
            self.assertEqual(status(c.response(sid)), 501, m)
        c.close()

    def test_reset_mid_body_then_keep_serving(self):
        c = self.h2(big_windows=False)  # 64 KiB windows: the server stops mid-body
        c.get(1, "/big.bin")
        c.pump(lambda c: len(c.streams[1]["data"]) >= 16384)
        self.assertGreater(len(c.streams[1]["data"]), 0)
        self.assertFalse(c.streams[1]["ended"])
        c.send(RstStreamFrame(1, error_code=CANCEL))
        c.send(WindowUpdateFrame(0, window_increment=1 << 24))
        c.get(3, "/medium.bin")
        c.send(WindowUpdateFrame(3, window_increment=1 << 24))
        st = c.response(3)
        self.assertEqual(sha(bytes(st["data"])), sha(FILES["medium.bin"]))
        self.assertFalse(c.streams[1]["ended"])
        c.close()
        wait_unwired(self)

    def test_urgent_stream_goes_first(self):
        # Both hot in the cache; the urgent one (RFC 9218 u=0) is asked for second but framed first.
        for n in ("big.bin", "medium.bin"):
            get(SRV.port, "/" + n)
        c = self.h2()
        c.streams[1] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        c.streams[3] = dict(c.streams[1], data=bytearray())
        c.send(c.headers(1, "/big.bin", extra=[("priority", "u=7")]),
               c.headers(3, "/medium.bin", extra=[("priority", "u=0")]))
        first = []

        def first_data(c):
            for sid in (1, 3):
                if c.streams[sid]["data"] and not first:
                    first.append(sid)
            return bool(first)
        self.assertTrue(c.pump(first_data))
        self.assertEqual(first[0], 3)
        self.assertEqual(sha(bytes(c.response(3)["data"])), sha(FILES["medium.bin"]))
        self.assertEqual(sha(bytes(c.response(1)["data"])), sha(FILES["big.bin"]))
        c.close()

    def test_idle_connections_hold_no_input_buffer(self):
        # Between requests an HTTP/2 connection's receive waits on the
        # thread's buffer ring, like HTTP/1.1's: it holds no input buffer.
        conns = [self.h2() for _ in range(10)]
        try:
            for c in conns:
                c.get(1, "/hello.txt")
            for c in conns:
                self.assertEqual(bytes(c.response(1)["data"]), FILES["hello.txt"])
            # Connections that other tests closed may still be lingering for a moment.
            deadline = time.time() + 10
            while metric("vmsend_http_input_buffers") > 1 and time.time() < deadline:
                time.sleep(0.05)
            self.assertLessEqual(metric("vmsend_http_input_buffers"), 1)
            for c in conns:
                c.get(3, "/hello.txt")
                self.assertEqual(bytes(c.response(3)["data"]), FILES["hello.txt"])
        finally:
            for c in conns:
                c.close()

    def test_access_log_and_metrics_say_http2(self):
        a = metric('vmsend_http_protocol_requests_total{protocol="HTTP/2"}')
        c = self.h2()
        probe = "/hello.txt?h2-log-probe-" + ("tls" if self.TLS else "h2c")
        c.get(1, probe, [("user-agent", "h2probe")])
        self.assertEqual(status(c.response(1)), 200)
        c.close()
        deadline = time.time() + 10
        found = False
        while time.time() < deadline and not found:
            with open(LOG) as f:
                found = any('"GET %s HTTP/2.0" 200 13' % probe in ln and "h2probe" in ln
                            for ln in f)
            time.sleep(0.05)
        self.assertTrue(found, "no HTTP/2.0 line in the access log")
        self.assertGreater(metric('vmsend_http_protocol_requests_total{protocol="HTTP/2"}'), a)


class Attacks(Transport, unittest.TestCase):
    def assert_goaway(self, c, code, timeout=10):
        self.assertTrue(c.pump(lambda c: c.goaway is not None, timeout), "no GOAWAY")
        self.assertEqual(c.goaway.error_code, code)
        self.assertTrue(c.pump(lambda c: c.closed, 10), "connection not closed after GOAWAY")
        c.close()

    def assert_still_serving(self):
        c = self.h2()
        c.get(1, "/medium.bin")
        self.assertEqual(sha(bytes(c.response(1)["data"])), sha(FILES["medium.bin"]))
        c.close()
        wait_unwired(self)

    def test_rapid_reset(self):
        a = metric("vmsend_http2_refused_total")
        c = self.h2()
        frames = []
        for i in range(2000):
            sid = 1 + 2 * i
            frames += [c.headers(sid, "/big.bin"), RstStreamFrame(sid, error_code=CANCEL)]
        try:
            c.send(*frames)
        except OSError:
            pass
        self.assert_goaway(c, ENHANCE_YOUR_CALM)
        self.assertGreater(metric("vmsend_http2_refused_total"), a)
        self.assert_still_serving()

    def test_continuation_flood(self):
        c = self.h2()
        h = c.headers(1, "/hello.txt", end_headers=False)
        conts = [ContinuationFrame(1, data=b"") for _ in range(100)]
        try:
            c.send(h, *conts)
        except OSError:
            pass
        self.assertTrue(c.pump(lambda c: c.goaway is not None, 10), "no GOAWAY")
        self.assertIn(c.goaway.error_code, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR))
        self.assertTrue(c.pump(lambda c: c.closed, 10))
        c.close()
        # Non-empty CONTINUATIONs past nghttp2's limit of 8: also refused.
        c = self.h2()
        h = c.headers(1, "/hello.txt", end_headers=False)
        conts = [ContinuationFrame(1, data=b"\x40\x01x\x01y") for _ in range(50)]
        try:
            c.send(h, *conts)
        except OSError:
            pass
        self.assertTrue(c.pump(lambda c: c.goaway is not None, 10), "no GOAWAY")
        self.assertNotEqual(c.goaway.error_code, NO_ERROR)
        c.close()
        self.assert_still_serving()

    def test_hpack_bomb(self):
        c = self.h2()
        # One 4 KiB field into the dynamic table, then 3000 one-byte references to it:
        # 12 MB decoded from 7 KiB sent.
        name = b"x-bomb"
        value = b"v" * 4000
        lit = bytes([0x40, len(name)]) + name + bytes([0x7f, (4000 - 127) & 0x7f | 0x80,
                                                         (4000 - 127) >> 7]) + value
        block = c.enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "h"),
                              (":path", "/hello.txt")]) + lit + bytes([0x80 | 62]) * 3000
        f = HeadersFrame(1, data=block)
        f.flags = {"END_STREAM", "END_HEADERS"}
        c.send(f)
        self.assert_goaway(c, ENHANCE_YOUR_CALM)
        self.assert_still_serving()

    def test_big_header_list_is_431(self):
        c = self.h2()
        c.streams[1] = {"headers": None, "data": bytearray(), "ended": False, "reset": None}
        block = c.enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "h"),
                              (":path", "/hello.txt")] +
                             [("x-big-%d" % i, os.urandom(500).hex()) for i in range(30)])
        self.assertGreater(len(block), 16384)
        h = HeadersFrame(1, data=block[:16000])
        h.flags = {"END_STREAM"}
        cont = ContinuationFrame(1, data=block[16000:])
        cont.flags = {"END_HEADERS"}
        c.send(h, cont)
        st = c.response(1)
        self.assertEqual(status(st), 431)
        c.get(3, "/hello.txt")
        self.assertEqual(bytes(c.response(3)["data"]), FILES["hello.txt"])
        c.close()

    def flood(self, make):
        c = self.h2()
        try:
            for _ in range(10):
                c.send(*[make(i) for i in range(300)])
        except OSError:
            pass
        self.assert_goaway(c, ENHANCE_YOUR_CALM)
        self.assert_still_serving()

    def test_ping_flood(self):
        self.flood(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")))

    def test_settings_flood(self):
        def s(i):
            f = SettingsFrame(0)
            f.settings = {SettingsFrame.HEADER_TABLE_SIZE: 4096}
            return f
        self.flood(s)

    def test_empty_data_frame_flood(self):
        c = self.h2()
        c.send(c.headers(1, "/hello.txt", method="POST", end_stream=False))
        try:
            c.send(*[DataFrame(1, data=b"") for _ in range(3000)])
        except OSError:
            pass
        self.assert_goaway(c, ENHANCE_YOUR_CALM)
        self.assert_still_serving()

    def test_zero_window_stall_is_cut_and_unwires(self):
        c = self.h2(settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}, big_windows=False)
        for i in range(4):
            c.get(1 + 2 * i, "/big.bin")
        # Headers come, no data can; after the 1 s send timeout the server gives up.
        self.assertTrue(c.pump(lambda c: all(c.streams[1 + 2 * i]["headers"] for i in range(4))))
        self.assert_goaway(c, ENHANCE_YOUR_CALM, timeout=20)
        self.assertEqual(sum(len(c.streams[1 + 2 * i]["data"]) for i in range(4)), 0)
        self.assert_still_serving()

    def test_more_streams_than_max_concurrent(self):
        # Zero windows keep the first 100 streams open; the 101st is refused.
        c = self.h2(settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}, big_windows=False)
        c.pump(lambda c: False, 0.3)  # take the server's SETTINGS (and ACK them)
        for i in range(101):
            c.get(1 + 2 * i, "/big.bin")
        self.assertTrue(c.pump(lambda c: c.streams[201]["reset"] is not None or c.goaway, 10))
        if c.goaway is not None:
            self.assertEqual(c.goaway.error_code, PROTOCOL_ERROR)
        else:
            self.assertIn(c.streams[201]["reset"], (REFUSED_STREAM, PROTOCOL_ERROR))
            self.assertTrue(all(c.streams[1 + 2 * i]["reset"] is None for i in range(100)))
        c.close()
        self.assert_still_serving()


class Stop(Transport, unittest.TestCase):
    def test_sigterm_lets_streams_in_flight_finish(self):
        srv = Server(ROOT, "--h2c", *tls_flags(), "--grace", "20")
        try:
            c = self.h2(big_windows=False, port=srv.ports[1] if self.TLS else srv.port)
            c.get(1, "/big.bin")
            c.pump(lambda c: len(c.streams[1]["data"]) > 0)
            srv.proc.send_signal(15)
            # GOAWAY(NO_ERROR) names stream 1 as processed; its body still comes whole.
            self.assertTrue(c.pump(lambda c: c.goaway is not None, 10), "no GOAWAY on stop")
            self.assertEqual(c.goaway.error_code, NO_ERROR)
            self.assertEqual(c.goaway.last_stream_id, 1)
            c.send(WindowUpdateFrame(0, window_increment=1 << 24),
                   WindowUpdateFrame(1, window_increment=1 << 24))
            st = c.response(1, 60)
            self.assertEqual(sha(bytes(st["data"])), sha(FILES["big.bin"]))
            self.assertTrue(c.pump(lambda c: c.closed, 10), "not closed after the last stream")
            c.close()
            self.assertEqual(srv.proc.wait(timeout=30), 0)
        finally:
            srv.stop()


class Teardown(unittest.TestCase):
    """A connection the server frees from inside its own input path."""

    def wait_open(self, srv, n):
        deadline = time.time() + 10
        while metric_of(srv, "vmsend_http_connections_open") != n:
            self.assertLess(time.time(), deadline, "connections open never became %d" % n)
            time.sleep(0.05)

    def test_goaway_and_close_notify_in_one_segment(self):
        # Over TLS, one segment can carry the preface, SETTINGS, a GOAWAY and
        # close_notify: the server reads it all and its EOF in one go, answers,
        # and closes the connection from inside h2_conn_input.  Once the
        # thread keeps 64 spare connections the closed one is really freed,
        # and the server used to read it after that (ASan: use after free).
        srv = Server(ROOT, "--h2c", *tls_flags(), threads=1)
        try:
            ctx = tls_ctx()
            for _ in range(3):
                raw = socket.create_connection(("127.0.0.1", srv.ports[1]), timeout=10)
                inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
                tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
                while True:
                    try:
                        tls.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        raw.sendall(out.read())
                        d = raw.recv(65536)
                        self.assertTrue(d, "closed during the handshake")
                        inc.write(d)
                raw.sendall(out.read())
                self.assertEqual(tls.selected_alpn_protocol(), "h2")
                # Fill the thread's spares: 70 connections open at once, then closed.
                plain = [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                         for _ in range(70)]
                self.wait_open(srv, 72)  # + this one + the metrics connection
                for s in plain:
                    s.close()
                self.wait_open(srv, 2)
                time.sleep(0.2)  # the metrics connection itself is back among the spares
                tls.write(PREFACE + SettingsFrame(0).serialize() +
                          GoAwayFrame(0, last_stream_id=0, error_code=NO_ERROR).serialize())
                try:
                    tls.unwrap()
                except ssl.SSLWantReadError:
                    pass  # our close_notify is queued; the server's comes later
                raw.sendall(out.read())
                raw.shutdown(socket.SHUT_WR)
                while raw.recv(65536):
                    pass
                raw.close()
                self.assertIsNone(srv.proc.poll(), "server died:\n" + srv.log[-4000:])
            self.assertEqual(get(srv.port, "/hello.txt").body, FILES["hello.txt"])
        finally:
            self.assertEqual(srv.stop(), 0, srv.log[-4000:])


class Upgrade(unittest.TestCase):
    """h2c Upgrade (RFC 7540 3.2) on the plain listener with --h2c."""

    def test_upgrade_answers_stream_1_then_serves_more(self):
        c = H2(upgrade="/medium.bin")
        self.assertTrue(c.upgrade_head.startswith(b"HTTP/1.1 101 "), c.upgrade_head)
        self.assertIn(b"\r\nupgrade: h2c", c.upgrade_head.lower())
        st = c.response(1)
        self.assertEqual(status(st), 200)
        self.assertEqual(sha(bytes(st["data"])), sha(FILES["medium.bin"]))
        c.get(3, "/big.bin")
        c.get(5, "/hello.txt")
        self.assertEqual(sha(bytes(c.response(3)["data"])), sha(FILES["big.bin"]))
        self.assertEqual(bytes(c.response(5)["data"]), FILES["hello.txt"])
        c.close()
        wait_unwired(self)

    def test_no_http2_settings_stays_http11(self):
        # Without HTTP2-Settings the server must not upgrade (RFC 7540 3.2.1).
        r = get(SRV.port, "/hello.txt", {"Upgrade": "h2c", "Connection": "Upgrade"})
        self.assertEqual((r.status, r.body), (200, FILES["hello.txt"]))
        r = get(SRV.port, "/hello.txt", {"Upgrade": "h2c", "HTTP2-Settings": "!!",
                                         "Connection": "Upgrade, HTTP2-Settings"})
        self.assertEqual((r.status, r.body), (200, FILES["hello.txt"]))


class ListingAndPrecompressed(unittest.TestCase):
    """--listing and --precompressed answer h2 streams as they answer HTTP/1.1."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vmsend-h2-feat-")
        cls.text = b"the quick brown fox jumps over the lazy dog\n" * 200
        cls.gz = gzip.compress(cls.text, mtime=0)
        now = time.time()
        for name, data, mtime in (("noindex/a.txt", b"a\n", now), ("noindex/b&c.txt", b"b\n", now),
                                  ("app.js", cls.text, now - 100), ("app.js.gz", cls.gz, now - 50)):
            path = os.path.join(cls.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (mtime, mtime))
        cls.srv = Server(cls.root, "--h2c", "--listing", "--precompressed")

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0, cls.srv.log
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_listing_and_variants_over_h2c(self):
        c = H2(port=self.srv.port)
        c.get(1, "/noindex/")
        st = c.response(1)
        self.assertEqual(status(st), 200)
        self.assertTrue(st["headers"]["content-type"].startswith("text/html"))
        page = bytes(st["data"])
        self.assertIn(b"a.txt", page)
        self.assertIn(b"b&amp;c.txt", page)  # names are escaped in the page
        c.get(3, "/app.js", [("accept-encoding", "gzip")])
        st = c.response(3)
        self.assertEqual(status(st), 200)
        self.assertEqual(st["headers"].get("content-encoding"), "gzip")
        self.assertEqual(st["headers"].get("vary"), "Accept-Encoding")
        self.assertIn("javascript", st["headers"]["content-type"])  # FILE's type, not FILE.gz's
        self.assertEqual(bytes(st["data"]), self.gz)
        c.get(5, "/app.js")
        st = c.response(5)
        self.assertEqual(status(st), 200)
        self.assertNotIn("content-encoding", st["headers"])
        self.assertEqual(bytes(st["data"]), self.text)
        c.close()


class RequestsTls(Requests):
    TLS = True


class AttacksTls(Attacks):
    TLS = True


class StopTls(Stop):
    TLS = True


class Tls(unittest.TestCase):
    """ALPN on the TLS listener: h2 preferred, http/1.1 kept, --no-h2 honoured; real clients."""

    def alpn(self, port, offer):
        s = tls_ctx(offer).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                       server_hostname="localhost")
        try:
            return s.selected_alpn_protocol(), s
        except BaseException:
            s.close()
            raise

    def test_http11_only_client_gets_http11(self):
        proto, s = self.alpn(SRV.ports[1], ["http/1.1"])
        try:
            self.assertEqual(proto, "http/1.1")
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:100])
            self.assertTrue(got.endswith(b"\r\n\r\n" + FILES["hello.txt"]))
        finally:
            s.close()
        proto, s = self.alpn(SRV.ports[1], ["h2", "http/1.1"])
        s.close()
        self.assertEqual(proto, "h2")  # server preference

    def test_no_h2_is_never_selected(self):
        srv = Server(ROOT, *tls_flags(), "--no-h2")
        try:
            proto, s = self.alpn(srv.ports[1], ["h2", "http/1.1"])
            s.close()
            self.assertEqual(proto, "http/1.1")
            proto, s = self.alpn(srv.ports[1], ["h2"])  # no protocol in common: no ALPN
            s.close()
            self.assertIsNone(proto)
        finally:
            self.assertEqual(srv.stop(), 0)
        r = tool(SRV.proc.args[0], "serve", "--help")
        self.assertIn(b"--no-h2", r.stdout + r.stderr)

    def url(self, path):
        return "https://localhost:%d%s" % (SRV.ports[1], path)

    def test_curl_http2_over_https(self):
        if not have("curl"):
            self.skipTest("curl is not installed")
        out = tempfile.mkdtemp(prefix="vmsend-h2-out-")
        try:
            urls, args = [], []
            for name in ("huge.bin", "medium.bin", "empty.bin", "many/f7"):
                urls.append(name)
                args += ["-o", os.path.join(out, name.replace("/", "_")), self.url("/" + name)]
            # One connection, several streams (-Z: in parallel).
            r = tool("curl", "-sS", "-Z", "--http2", "--cacert", CERT, "-w",
                     "%{http_version} %{http_code}\n", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode().split("\n"), ["2 200"] * 4 + [""])
            for name in urls:
                with open(os.path.join(out, name.replace("/", "_")), "rb") as f:
                    self.assertEqual(sha(f.read()), sha(FILES[name]), name)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        r = tool("curl", "-sS", "-v", "--http2", "--cacert", CERT, "-r", "1000-299999",
                 self.url("/big.bin"))
        self.assertEqual(r.stdout, FILES["big.bin"][1000:300000])
        self.assertIn(b"ALPN: server accepted h2", r.stderr)

    def test_nghttp_over_https(self):
        text = check_nghttp(self, self.url, ("huge.bin", "big.bin"))
        self.assertIn("The negotiated protocol: h2", text)
        wait_unwired(self)


def tool(*args, timeout=120):
    return subprocess.run(list(args), capture_output=True, timeout=timeout)


def have(name):
    return shutil.which(name) is not None


def check_nghttp(test, url, names):
    """nghttp -nv on url("/medium.bin") (frames checked), then byte-exact bodies; the -nv text."""
    if not have("nghttp"):
        test.skipTest("nghttp (nghttp2-client) is not installed")
    r = tool("nghttp", "-nv", url("/medium.bin"))
    test.assertEqual(r.returncode, 0, r.stderr)
    text = r.stdout.decode()
    test.assertIn(":status: 200", text)
    test.assertIn("SETTINGS_NO_RFC7540_PRIORITIES(0x09):1", text)
    test.assertRegex(text, r"recv DATA frame <length=\d+, flags=0x01, stream_id=13>")
    for name in names:  # one URI each: nghttp interleaves parallel bodies
        r = tool("nghttp", url("/" + name))
        test.assertEqual(r.returncode, 0, r.stderr)
        test.assertEqual(sha(r.stdout), sha(FILES[name]), name)
    return text


class Tools(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="vmsend-h2-out-")

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def test_curl_prior_knowledge(self):
        if not have("curl"):
            self.skipTest("curl is not installed")
        for name in ("huge.bin", "medium.bin", "empty.bin"):
            p = os.path.join(self.out, "x")
            r = tool("curl", "-sS", "--http2-prior-knowledge", "-o", p, "-w", "%{http_version} %{http_code}",
                     SRV.url("/" + name))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), "2 200")
            with open(p, "rb") as f:
                self.assertEqual(sha(f.read()), sha(FILES[name]), name)
        r = tool("curl", "-sS", "--http2-prior-knowledge", "-r", "1000-2999", SRV.url("/medium.bin"))
        self.assertEqual(r.stdout, FILES["medium.bin"][1000:3000])

    def test_curl_http2(self):
        # Plain http: curl sends "Upgrade: h2c" with its first request; the server takes it.
        if not have("curl"):
            self.skipTest("curl is not installed")
        p = os.path.join(self.out, "x")
        r = tool("curl", "-sS", "--http2", "-o", p, "-w", "%{http_version} %{http_code}",
                 SRV.url("/big.bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "2 200")  # upgraded (h2c Upgrade)
        with open(p, "rb") as f:
            self.assertEqual(sha(f.read()), sha(FILES["big.bin"]))

    def test_nghttp(self):
        check_nghttp(self, SRV.url, ("big.bin",))

    def test_h2load(self):
        if not have("h2load"):
            self.skipTest("h2load (nghttp2-client) is not installed")
        r = tool("h2load", "-n", "600", "-c", "2", "-m", "100", SRV.url("/page.bin"))
        text = r.stdout.decode()
        self.assertEqual(r.returncode, 0, text + r.stderr.decode())
        self.assertIn("600 succeeded, 0 failed, 0 errored", text)
        self.assertIn("status codes: 600 2xx", text)
        self.assertRegex(text, r"\(%d\) data" % (600 * 4096))


if __name__ == "__main__":
    unittest.main(verbosity=2)
