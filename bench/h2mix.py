#!/usr/bin/python3
"""Hot request latency on one HTTP/2 connection, alone or beside cold streams.

usage: h2mix.py PORT HOT_PATH SECONDS [COLD_PATH,COLD_PATH,...]

One h2c (prior knowledge) connection with the default 64 KiB stream windows.  Hot GETs go one at a time; each
one's latency is from its HEADERS sent to its END_STREAM received.  With
cold paths, one cold file at a time streams on the same connection the
whole time (the next starts when one ends), so every hot response shares
the connection with a cold one.  Prints "p50_us=.. p99_us=.. n=.. cold_bytes=.. errors=..".
Uses Debian's python3-h2 packages (hpack, hyperframe).
"""
import socket
import sys
import time

import hpack
from hyperframe.frame import (DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2**31 - 1


def main():
    port, hot, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    colds = [p for p in sys.argv[4].split(",") if p] if len(sys.argv) > 4 else []
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(30)
    enc = hpack.Encoder()
    dec = hpack.Decoder()
    # Stream windows stay at the protocol's default (64 KiB), as most clients keep them: the
    # cold stream gets WINDOW_UPDATEs as its bytes are consumed, so the server can never have
    # more than a window of it in flight ahead of a hot response.  The connection window is
    # wide open.
    st = SettingsFrame(0)
    s.sendall(PREFACE + st.serialize() +
              WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535).serialize())
    next_id = [1]
    consumed = [0]

    def request(path):
        sid = next_id[0]
        next_id[0] += 2
        f = HeadersFrame(sid, data=enc.encode([(":method", "GET"), (":scheme", "http"),
                                                (":authority", "127.0.0.1"), (":path", path)]))
        f.flags = {"END_STREAM", "END_HEADERS"}
        s.sendall(f.serialize())
        return sid

    buf = bytearray()
    ended = set()
    errors = 0
    cold_bytes = 0
    unacked = 0
    cold_sid = None
    cold_i = 0
    if colds:
        cold_sid = request(colds[0])
    lat = []
    deadline = time.monotonic() + secs
    hot_sid, t0 = request(hot), time.monotonic()
    while True:
        try:
            chunk = s.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            errors += 1
            break
        buf += chunk
        pos = 0
        while len(buf) - pos >= 9:
            f, length = Frame.parse_frame_header(memoryview(buf)[pos:pos + 9])
            if len(buf) - pos < 9 + length:
                break
            f.parse_body(memoryview(buf)[pos + 9:pos + 9 + length])
            pos += 9 + length
            if isinstance(f, HeadersFrame):
                h = dict(dec.decode(f.data))
                if h.get(":status") != "200":
                    errors += 1
            elif isinstance(f, DataFrame) and f.stream_id == cold_sid:
                cold_bytes += len(f.data)
                unacked += len(f.data)
                if unacked >= 16384 and "END_STREAM" not in f.flags:
                    s.sendall(WindowUpdateFrame(cold_sid, window_increment=unacked).serialize())
                    unacked = 0
            elif isinstance(f, (RstStreamFrame, GoAwayFrame)):
                errors += 1
            if "END_STREAM" in f.flags:
                ended.add(f.stream_id)
        del buf[:pos]
        if hot_sid in ended:
            now = time.monotonic()
            lat.append(now - t0)
            ended.discard(hot_sid)
            if now >= deadline:
                break
            hot_sid, t0 = request(hot), time.monotonic()
        if cold_sid in ended:
            ended.discard(cold_sid)
            unacked = 0
            cold_i += 1
            cold_sid = request(colds[cold_i % len(colds)])
        if errors:
            break
    s.close()
    lat.sort()
    if not lat:
        print("p50_us=0 p99_us=0 n=0 cold_bytes=%d errors=%d" % (cold_bytes, errors + 1))
        return
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
    print("p50_us=%.0f p99_us=%.0f n=%d cold_bytes=%d errors=%d" % (p(0.5), p(0.99), len(lat),
                                                                   cold_bytes, errors))


if __name__ == "__main__":
    main()
