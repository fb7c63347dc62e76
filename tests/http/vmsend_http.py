"""Helpers for the HTTP integration tests: start `vmsend serve` on a free
loopback port, a raw-socket HTTP/1.1 client, and a response reader.

Every server a test starts is registered and killed at exit, even when the
test fails or the interpreter is interrupted.
"""
import atexit
import hashlib
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time

_servers = []


def _kill_all():
    for p, out in _servers:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    for p, out in _servers:
        if os.path.exists(out):
            os.unlink(out)


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *a: (_kill_all(), os._exit(1)))


def _die_with_parent():
    # If the test runner is killed (ctest timeout, SIGKILL), the server goes too.
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def binary():
    b = os.environ.get("VMSEND_BINARY_DIR")
    if not b:
        raise RuntimeError("VMSEND_BINARY_DIR is not set (run through ctest)")
    return os.path.join(b, "src", "cli", "vmsend")


class Server:
    """A running `vmsend serve`; .port, .stop(), .log (stdout+stderr so far).
    root None: no --root (the flags carry --mount /=...)."""

    def __init__(self, root, *flags, listen="127.0.0.1:0", threads=2, expect_fail=False,
                 allow_root=True, wrapper=(), pass_fds=()):
        """wrapper: argv run in front of vmsend (it must exec "$@"); pass_fds: fds it inherits;
        threads None: the server's default."""
        fd, self.outname = tempfile.mkstemp(prefix="vmsend-http-", suffix=".log")
        self.out = os.fdopen(fd, "wb")
        args = list(wrapper) + [binary(), "serve"] + (["--root", root] if root is not None else [])
        args += (["--threads", str(threads)] if threads else []) + ["--cache-size", "64M"]
        if allow_root:
            args.append("--allow-root")
        if listen:
            args += ["--listen", listen]
        args += list(flags)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_die_with_parent, pass_fds=pass_fds)
        self.out.close()  # the child has its own copy of the descriptor
        _servers.append((self.proc, self.outname))
        self.port = None
        if expect_fail:
            self.proc.wait(timeout=60)
            return
        deadline = time.time() + 60
        while time.time() < deadline:
            log = self.log
            if "Ctrl-C stops" in log:
                self.ports = [int(p) for p in re.findall(r"listening on \S+ \(port (\d+)\)", log)]
                self.port = self.ports[0]
                m = re.search(r"metrics on \S+ \(port (\d+)\)", log)
                self.metrics_port = int(m.group(1)) if m else None
                break
            if self.proc.poll() is not None:
                raise RuntimeError("server exited at start:\n" + self.log)
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("server did not start:\n" + self.log)

    @property
    def log(self):
        with open(self.outname, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def wait_log(self, text, count=1, timeout=30):
        """Wait until `text` appears `count` times in the server's output."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log.count(text) >= count:
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log)
            time.sleep(0.05)
        raise RuntimeError("no %r in the server's output:\n%s" % (text, self.log[-4000:]))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body
        self.raw_head = raw_head

    def h(self, name):
        return self.headers.get(name.lower())


class Conn:
    """A raw HTTP/1.1 client socket with a buffered response reader."""

    def __init__(self, port, host="127.0.0.1", timeout=20, family=socket.AF_INET, rcvbuf=None):
        """port: a unix socket's path with family AF_UNIX."""
        self.s = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(port if family == socket.AF_UNIX else (host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.s.sendall(data)

    def request(self, method, path, headers=None, version="HTTP/1.1"):
        hs = {"Host": "t"}
        hs.update(headers or {})
        lines = ["%s %s %s" % (method, path, version)]
        lines += ["%s: %s" % (k, v) for k, v in hs.items() if v is not None]
        self.send("\r\n".join(lines) + "\r\n\r\n")

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) (.*)$", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        status = int(m.group(1))
        n = 0 if head_only or status in (204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, m.group(2), headers, body, head)

    def closed_by_peer(self, wait=10):
        """True if the server closes (EOF or reset) within `wait` seconds; extra bytes dropped."""
        deadline = time.time() + wait
        while time.time() < deadline:
            r, _, _ = select.select([self.s], [], [], max(0.0, deadline - time.time()))
            if not r:
                continue
            try:
                d = self.s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                return True
            if not d:
                return True
            self.buf += d
        return False

    def close(self):
        self.s.close()


def get(port, path, headers=None, method="GET"):
    c = Conn(port)
    try:
        c.request(method, path, dict(headers or {}, Connection="close"))
        return c.read_response(head_only=(method == "HEAD"))
    finally:
        c.close()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_site(root):
    """A test site; returns {name: bytes} of the regular files."""
    import random
    rnd = random.Random(5)
    files = {
        "index.html": b"<!DOCTYPE html><title>t</title><p>vmsend test index</p>\n",
        "hello.txt": b"hello, world\n",
        "empty.bin": b"",
        "one.bin": b"x",
        "page.bin": bytes(rnd.getrandbits(8) for _ in range(4096)),
        "medium.bin": bytes(rnd.getrandbits(8) for _ in range(100_003)),
        "sub/index.html": b"<p>sub index</p>\n",
        "noindex/a.txt": b"a\n",
        "noindex/b&<c>.txt": b"b\n",
        "sp ace/f%2e.txt": b"space and percent\n",
        ".secret": b"do not serve\n",
        "dir/.hidden/x.txt": b"hidden\n",
        "style.css": b"body{}\n",
        "pic.png": b"\x89PNG\r\n\x1a\n",
    }
    for name, data in files.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    big = os.path.join(root, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(8 << 20))
    with open(big, "rb") as f:
        files["big.bin"] = f.read()
    os.symlink("/etc/passwd", os.path.join(root, "escape-link"))
    return files


CA_CFG = """[ca]
default_ca = d
[d]
database = {d}/index.txt
new_certs_dir = {d}
rand_serial = yes
default_md = sha256
policy = p
[p]
commonName = supplied
"""


def run(*args, **kw):
    """Run a tool; its output captured, a failure raised."""
    return subprocess.run(list(args), check=True, capture_output=True, timeout=120, **kw)


def make_cert(d, name, dns, expired=False, rsa=False):
    """A self-signed ECDSA P-256 (or RSA 2048) certificate for `dns` (test-only key):
    (cert, key) paths."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    if not expired:
        kind = (["rsa:2048"] if rsa else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        run("openssl", "req", "-x509", "-newkey", *kind,
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + dns,
            "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % dns)
        return cert, key
    ca = os.path.join(d, "ca-" + name)
    os.makedirs(ca)
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "cfg"), "w") as f:
        f.write(CA_CFG.format(d=ca))
    csr = os.path.join(d, name + ".csr")
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    run("openssl", "req", "-new", "-key", key, "-subj", "/CN=" + dns, "-out", csr)
    run("openssl", "ca", "-batch", "-config", os.path.join(ca, "cfg"), "-selfsign", "-keyfile",
        key, "-in", csr, "-out", cert, "-startdate", "20200101000000Z", "-enddate",
        "20200102000000Z")
    return cert, key
