#!/usr/bin/env python3
"""Slow and abusive HTTP clients for tests/soak/run.sh.

While wrk drives 1,000 well-behaved connections, these clients do what real
networks do to a file server, so the soak shows whether any of it costs the
well-formed requests an error, leaks a descriptor or grows memory:

  slow      send a request one byte a second (a server must time it out,
            and must not hold a loop or a page while it waits)
  nonreader pipeline requests for a large file and never read a byte (the
            send buffer fills; the server must not block other clients on
            it, nor buffer the file in memory without bound)
  garbage   random bytes, oversized headers and unknown methods (the server
            answers 4xx/5xx or closes; it must not crash)
  idle      connect and say nothing

Loopback only.  Everything stops at --seconds; the last line printed is a
summary of key=value counts.  The counts are reported, not asserted: which
status a server answers to garbage is the HTTP tests' business; the soak's
verdict is wrk's error count and the server's health, fds and RSS.
"""
import argparse
import collections
import os
import random
import socket
import threading
import time

counts = collections.Counter()
lock = threading.Lock()


def count(key, n=1):
    with lock:
        counts[key] += n


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(s):
    """True if the server has closed (or reset) the connection."""
    s.setblocking(False)
    try:
        data = s.recv(65536)
        return data == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def slow(port, deadline):
    req = b"GET /4k.bin HTTP/1.1\r\nHost: soak\r\nUser-Agent: one-byte-a-second\r\n\r\n"
    while time.monotonic() < deadline:
        try:
            s = connect(port)
        except OSError:
            count("slow_connect_failed")
            time.sleep(1)
            continue
        count("slow_conns")
        try:
            for b in req:
                if time.monotonic() >= deadline:
                    break
                s.send(bytes([b]))
                time.sleep(1)
                if closed_by_peer(s):
                    count("slow_closed_by_server")
                    break
        except OSError:
            count("slow_closed_by_server")
        finally:
            s.close()


def nonreader(port, deadline, path):
    try:
        s = connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    except OSError:
        count("nonreader_connect_failed")
        return
    count("nonreader_conns")
    req = ("GET %s HTTP/1.1\r\nHost: soak\r\n\r\n" % path).encode() * 32
    try:
        s.settimeout(1)
        s.sendall(req)
    except OSError:
        pass  # the server may stop reading requests once its send side is full
    while time.monotonic() < deadline:
        time.sleep(0.5)
    s.close()


def garbage(port, deadline, seed):
    rnd = random.Random(seed)
    kinds = ["random", "bighdr", "method", "version", "nul"]
    while time.monotonic() < deadline:
        kind = rnd.choice(kinds)
        if kind == "random":
            payload = os.urandom(rnd.randint(1, 4096)) + b"\r\n\r\n"
        elif kind == "bighdr":
            payload = b"GET /4k.bin HTTP/1.1\r\nHost: soak\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"
        elif kind == "method":
            payload = b"FROB /4k.bin HTTP/1.1\r\nHost: soak\r\n\r\n"
        elif kind == "version":
            payload = b"GET /4k.bin HTTP/7.3\r\nHost: soak\r\n\r\n"
        else:
            payload = b"GET /4k\x00.bin HTTP/1.1\r\nHost: soak\r\n\r\n"
        try:
            s = connect(port)
        except OSError:
            count("garbage_connect_failed")
            time.sleep(0.1)
            continue
        try:
            s.settimeout(2)
            try:
                s.sendall(payload)
            except OSError:
                pass  # a server may close as soon as it has seen enough
            reply = s.recv(64)
            if reply.startswith(b"HTTP/1."):
                count("garbage_status_" + reply[9:12].decode("ascii", "replace"))
            elif reply == b"":
                count("garbage_closed")
            else:
                count("garbage_other")
        except socket.timeout:
            count("garbage_no_answer")
        except OSError:
            count("garbage_reset")
        finally:
            s.close()
        time.sleep(0.05)


def idle(port, deadline):
    try:
        s = connect(port)
    except OSError:
        count("idle_connect_failed")
        return
    count("idle_conns")
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if closed_by_peer(s):
            count("idle_closed_by_server")
            break
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--big", default="/big.bin")
    ap.add_argument("--slow", type=int, default=16)
    ap.add_argument("--nonreaders", type=int, default=8)
    ap.add_argument("--garbage", type=int, default=4)
    ap.add_argument("--idle", type=int, default=16)
    a = ap.parse_args()
    deadline = time.monotonic() + a.seconds
    threads = []
    for _ in range(a.slow):
        threads.append(threading.Thread(target=slow, args=(a.port, deadline)))
    for _ in range(a.nonreaders):
        threads.append(threading.Thread(target=nonreader, args=(a.port, deadline, a.big)))
    for i in range(a.garbage):
        threads.append(threading.Thread(target=garbage, args=(a.port, deadline, i)))
    for _ in range(a.idle):
        threads.append(threading.Thread(target=idle, args=(a.port, deadline)))
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + 10)
    print("abuse " + " ".join("%s=%d" % kv for kv in sorted(counts.items())), flush=True)


if __name__ == "__main__":
    main()
