#!/usr/bin/env python3
"""What `vmsend serve` puts in front of a file: precompressed variants
(--precompressed: FILE.br/.zst/.gz chosen by Accept-Encoding with q-values,
ranges and conditionals on the variant, stale variants ignored), and the
caching and custom headers configured per path pattern."""
import email.utils
import gzip
import json
import os
import re
import subprocess
import urllib.parse
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmsend_http import Server, binary, get, make_site  # noqa: E402

TEXT = b"".join(b"line %05d of a compressible text file\n" % i for i in range(3000))


def put(root, name, data, mtime=None):
    p = os.path.join(root, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))


class Precompressed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vmsend-pre-")
        make_site(cls.root)
        now = time.time()
        cls.gz = gzip.compress(TEXT, mtime=0)
        # Stand-ins for brotli/zstd output: the server never decodes a variant, it
        # serves its bytes, so distinct contents show which one was chosen.
        cls.br = b"BR" + cls.gz
        cls.zst = b"ZSTD" + cls.gz
        put(cls.root, "app.js", TEXT, now - 100)
        put(cls.root, "app.js.gz", cls.gz, now - 50)
        put(cls.root, "app.js.br", cls.br, now - 50)
        put(cls.root, "app.js.zst", cls.zst, now - 50)
        put(cls.root, "only-gz.css", TEXT, now - 100)
        put(cls.root, "only-gz.css.gz", cls.gz, now - 100)  # same mtime: not older
        put(cls.root, "stale.txt", TEXT, now - 10)
        put(cls.root, "stale.txt.gz", cls.gz, now - 1000)  # older than the file: ignored
        cls.srv = Server(cls.root, "--precompressed")
        cls.off = Server(cls.root)

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.off):
            assert s.stop() == 0, s.log
            for w in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
                assert w not in s.log, s.log
        shutil.rmtree(cls.root, ignore_errors=True)

    def ae(self, value, path="/app.js", port=None, **hdrs):
        h = {"Accept-Encoding": value} if value is not None else {}
        h.update(hdrs)
        return get(port or self.srv.port, path, h)

    def test_negotiation(self):
        ctype = self.ae(None).h("content-type")
        self.assertIn("javascript", ctype)
        cases = [
            (None, None, TEXT),
            ("gzip", "gzip", self.gz),
            ("x-gzip", "gzip", self.gz),
            ("gzip, br", "br", self.br),  # equal weights: br, then zstd, then gzip
            ("gzip, zstd", "zstd", self.zst),
            ("br;q=0.5, gzip;q=0.8", "gzip", self.gz),
            ("br;q=0, zstd;q=0, gzip", "gzip", self.gz),
            ("br;q=0, zstd;q=0, gzip;q=0", None, TEXT),
            ("*", "br", self.br),
            ("*;q=0.1, gzip;q=0.2", "gzip", self.gz),
            ("*, br;q=0", "zstd", self.zst),
            ("identity", None, TEXT),
            ("deflate", None, TEXT),
            ("gzip;q=garbage, br", "br", self.br),
            ("GZIP;Q=1.000", "gzip", self.gz),
        ]
        for ae, enc, body in cases:
            r = self.ae(ae)
            self.assertEqual(r.status, 200, ae)
            self.assertEqual(r.h("content-encoding"), enc, ae)
            self.assertEqual(r.body, body, ae)
            self.assertEqual(r.h("vary"), "Accept-Encoding", ae)
            self.assertEqual(r.h("content-type"), ctype, ae)  # the type of FILE, not of FILE.gz
            self.assertEqual(int(r.h("content-length")), len(body), ae)

    def test_only_some_variants(self):
        r = self.ae("br, gzip", "/only-gz.css")
        self.assertEqual((r.h("content-encoding"), r.body), ("gzip", self.gz))
        self.assertEqual(r.h("content-type"), get(self.srv.port, "/only-gz.css").h("content-type"))
        self.assertIn("css", r.h("content-type"))
        r = self.ae("br", "/only-gz.css")
        self.assertEqual((r.h("content-encoding"), r.body), (None, TEXT))

    def test_stale_variant_ignored(self):
        r = self.ae("gzip", "/stale.txt")
        self.assertEqual((r.h("content-encoding"), r.body), (None, TEXT))

    def test_off_by_default(self):
        r = self.ae("gzip, br", port=self.off.port)
        self.assertEqual((r.h("content-encoding"), r.body), (None, TEXT))
        self.assertIsNone(r.h("vary"))

    def test_own_etag_and_conditionals(self):
        plain, gz = self.ae(None), self.ae("gzip")
        self.assertNotEqual(plain.h("etag"), gz.h("etag"))
        r = self.ae("gzip", **{"If-None-Match": gz.h("etag")})
        self.assertEqual((r.status, r.h("content-encoding"), r.h("vary")),
                         (304, "gzip", "Accept-Encoding"))
        # the identity's tag does not validate the gzip variant
        self.assertEqual(self.ae("gzip", **{"If-None-Match": plain.h("etag")}).status, 200)

    def test_ranges_on_variant(self):
        r = self.ae("gzip", Range="bytes=10-99")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.h("content-encoding"), "gzip")
        self.assertEqual(r.body, self.gz[10:100])
        self.assertEqual(r.h("content-range"), "bytes 10-99/%d" % len(self.gz))
        r = self.ae("br", Range="bytes=-5")
        self.assertEqual(r.body, self.br[-5:])
        gz = self.ae("gzip")
        r = self.ae("gzip", Range="bytes=0-3", **{"If-Range": gz.h("etag")})
        self.assertEqual((r.status, r.body), (206, self.gz[:4]))
        r = self.ae("gzip", Range="bytes=0-3", **{"If-Range": self.ae(None).h("etag")})
        self.assertEqual((r.status, r.body), (200, self.gz))  # If-Range names another version
        r = self.ae("gzip", Range="bytes=%d-" % (len(self.gz) + 10))
        self.assertEqual(r.status, 416)


def decode(tool, data):
    return subprocess.run([tool, "-d", "-c"], input=data, capture_output=True, check=True,
                          timeout=60).stdout


class PrecompressedImage(unittest.TestCase):
    """mkimage --precompress stores the variants; the server picks them from the image."""

    @classmethod
    def setUpClass(cls):
        cls.src = tempfile.mkdtemp(prefix="vmsend-preimg-")
        cls.css = TEXT.replace(b"line", b"rule")
        put(cls.src, "app.js", TEXT)
        put(cls.src, "s/style.css", cls.css)
        put(cls.src, "s/style.css.gz", b"operator's own gzip")  # kept, never replaced
        put(cls.src, "pic.png", TEXT)  # not a text type: no variants
        put(cls.src, "tiny.txt", b"small")  # under 256 bytes: no variants
        cls.image = cls.src + ".objfs"
        r = subprocess.run([binary(), "mkimage", "--precompress", cls.src, cls.image],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        cls.mk_out = r.stdout
        cls.root = tempfile.mkdtemp(prefix="vmsend-preimg-root-")
        cls.srv = Server(cls.root, "--precompressed", "--mount", "/img=objfs:" + cls.image)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0, cls.srv.log
        shutil.rmtree(cls.src, ignore_errors=True)
        shutil.rmtree(cls.root, ignore_errors=True)
        os.unlink(cls.image)

    def test_variants_in_image(self):
        self.assertIn("(5 precompressed variants)", self.mk_out)  # app.js x3, style.css .zst .br
        for enc, tool in (("gzip", "gzip"), ("zstd", "zstd"), ("br", "brotli")):
            r = get(self.srv.port, "/img/app.js", {"Accept-Encoding": enc})
            self.assertEqual((r.status, r.h("content-encoding")), (200, enc))
            self.assertLess(len(r.body), len(TEXT) // 4, enc)
            self.assertEqual(decode(tool, r.body), TEXT, enc)
            rg = get(self.srv.port, "/img/app.js", {"Accept-Encoding": enc, "Range": "bytes=5-20"})
            self.assertEqual((rg.status, rg.body), (206, r.body[5:21]), enc)
        r = get(self.srv.port, "/img/app.js")
        self.assertEqual((r.h("content-encoding"), r.body), (None, TEXT))
        r = get(self.srv.port, "/img/s/style.css", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.body, b"operator's own gzip")
        r = get(self.srv.port, "/img/s/style.css", {"Accept-Encoding": "br"})
        self.assertEqual(decode("brotli", r.body), self.css)
        for name in ("pic.png", "tiny.txt"):
            for ext in (".gz", ".zst", ".br"):
                self.assertEqual(get(self.srv.port, "/img/" + name + ext).status, 404, name + ext)
        fsck = subprocess.run([binary(), "fsck", self.image], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(fsck.returncode, 0, fsck.stdout + fsck.stderr)


class CacheHeaders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vmsend-hdr-")
        make_site(cls.root)
        put(cls.root, "assets/app.3f9a2c.js", b"x" * 100)
        put(cls.root, "img/pic.png", b"\x89PNG\r\n\x1a\n")
        cls.cfg = cls.root + ".conf"
        with open(cls.cfg, "w") as f:
            f.write("# caching per pattern\n"
                    "cache-control *.html no-cache\n"
                    "header /assets/* Cache-Control: public, max-age=31536000, immutable\n"
                    "header /* X-Frame-Options: DENY\n"
                    "header /sub/* X-Frame-Options: SAMEORIGIN\n"
                    "expires /img/* 2h\n"
                    "expires /style.css 30m\n"
                    "cache-control /style.css private\n"
                    "header *.log Content-Type: text/plain; charset=utf-8\n"
                    "header /assets/* X-Content-Type-Options: nosniff\n")
        put(cls.root, "assets/app.log", b"0123456789")
        cls.srv = Server(cls.root, "--config", cls.cfg)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0, cls.srv.log
        shutil.rmtree(cls.root, ignore_errors=True)
        os.unlink(cls.cfg)

    def test_patterns(self):
        r = get(self.srv.port, "/index.html")
        self.assertEqual((r.h("cache-control"), r.h("x-frame-options")), ("no-cache", "DENY"))
        r = get(self.srv.port, "/")  # index.html behind a directory URL
        self.assertEqual(r.h("cache-control"), "no-cache")
        r = get(self.srv.port, "/sub/index.html")  # later rule for the same name wins
        self.assertEqual((r.h("cache-control"), r.h("x-frame-options")),
                         ("no-cache", "SAMEORIGIN"))
        r = get(self.srv.port, "/assets/app.3f9a2c.js")
        self.assertEqual(r.h("cache-control"), "public, max-age=31536000, immutable")
        self.assertIsNone(r.h("expires"))
        r = get(self.srv.port, "/hello.txt")
        self.assertIsNone(r.h("cache-control"))
        self.assertEqual(r.h("x-frame-options"), "DENY")

    def test_a_content_type_rule_replaces_the_type(self):
        # One Content-Type, the rule's (a second one was added before), in parts too.
        r = get(self.srv.port, "/assets/app.log")
        types = re.findall(r"(?im)^content-type:[^\r\n]*", r.raw_head.decode())
        self.assertEqual(types, ["Content-Type: text/plain; charset=utf-8"])
        self.assertEqual(r.h("x-content-type-options"), "nosniff")
        r = get(self.srv.port, "/assets/app.log", {"Range": "bytes=0-0,2-2"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body.count(b"Content-Type: text/plain; charset=utf-8"), 2)
        # A header each response computes cannot be a rule: it would go out twice.
        for h in ("Content-Length: 5", "etag: x", "Server: me", "Transfer-Encoding: chunked"):
            r = subprocess.run([binary(), "serve", "--allow-root", "--check-config", "--header",
                                "*.x " + h], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, h)
            self.assertIn("vmsend sets it for each response", r.stderr)

    def test_expires(self):
        before = time.time()
        r = get(self.srv.port, "/img/pic.png")
        exp = email.utils.parsedate_to_datetime(r.h("expires")).timestamp()
        self.assertTrue(before + 7200 - 2 <= exp <= time.time() + 7200 + 1, r.h("expires"))
        self.assertEqual(r.h("cache-control"), "max-age=7200")
        r = get(self.srv.port, "/style.css")  # a Cache-Control rule replaces the max-age
        self.assertEqual(r.h("cache-control"), "private")
        self.assertIsNotNone(r.h("expires"))

    def test_on_304_and_206(self):
        r = get(self.srv.port, "/index.html")
        r2 = get(self.srv.port, "/index.html", {"If-None-Match": r.h("etag")})
        self.assertEqual((r2.status, r2.h("cache-control")), (304, "no-cache"))
        r3 = get(self.srv.port, "/index.html", {"Range": "bytes=0-1"})
        self.assertEqual((r3.status, r3.h("cache-control")), (206, "no-cache"))
        self.assertIsNone(get(self.srv.port, "/nope.html").h("cache-control"))  # not on 404


HOSTILE = [b"<script>x.txt",
           b'q"uote.txt', b"amp&er.txt", b"sp ace.txt", b"caf\xc3\xa9.txt", b"bad\xff\xfe.bin",
           b"apo'strophe.txt", b"new\nline.txt", b"pct%41.txt", b"back\\slash.txt"]
# Names no request can reach (the server refuses control bytes and '\\' in paths: 400).
UNREACHABLE = [b"new\nline.txt", b"back\\slash.txt"]
LISTED = [n for n in HOSTILE if n not in UNREACHABLE]


class Listing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vmsend-list-")
        d = os.path.join(cls.root, "d").encode()
        os.makedirs(os.path.join(d, b"zdir"))
        os.makedirs(os.path.join(d, b"a<dir>"))
        cls.sizes = {}
        for i, name in enumerate(HOSTILE):
            data = b"y" * (i * 700)
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            cls.sizes[name] = len(data)
        with open(os.path.join(d, b"big.bin"), "wb") as f:
            f.truncate(3 * 1024 * 1024 + 512 * 1024)
        os.utime(os.path.join(d, b"big.bin"), (1700000000, 1700000000))
        cls.srv = Server(cls.root, "--listing")

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0, cls.srv.log
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_html(self):
        r = get(self.srv.port, "/d/")
        self.assertEqual((r.status, r.h("content-type")), (200, "text/html; charset=utf-8"))
        page = r.body.decode("utf-8")  # valid UTF-8 even with a name that is not
        # no name reaches the page unescaped
        for bad in ("<script>", 'q"uote', "amp&er", "apo'strophe", "a<dir>", "new\nline"):
            self.assertNotIn(bad, page)
        for name in UNREACHABLE:  # left out: their links could only get 400
            self.assertNotIn(urllib.parse.quote(name, safe=""), page)
        self.assertIn('<a href="%3Cscript%3Ex.txt">&lt;script&gt;x.txt</a>', page)
        self.assertIn('<a href="q%22uote.txt">q&quot;uote.txt</a>', page)
        self.assertIn('<a href="amp%26er.txt">amp&amp;er.txt</a>', page)
        self.assertIn('<a href="sp%20ace.txt">sp ace.txt</a>', page)
        self.assertIn('<a href="caf%C3%A9.txt">caf\u00e9.txt</a>', page)
        self.assertIn('<a href="bad%FF%FE.bin">bad\ufffd\ufffd.bin</a>', page)
        self.assertIn('<a href="pct%2541.txt">pct%41.txt</a>', page)
        self.assertIn('<a href="a%3Cdir%3E/">a&lt;dir&gt;/</a>', page)
        self.assertIn('<a href="../">../</a>', page)
        self.assertNotIn('href="../"', get(self.srv.port, "/").body.decode())  # no parent at /
        # sorted: directories first, then names bytewise
        hrefs = re.findall(r'<a href="([^"]*)">', page)
        self.assertEqual(hrefs[0], "../")
        names = [urllib.parse.unquote_to_bytes(h) for h in hrefs[1:]]
        self.assertEqual(names[:2], [b"a<dir>/", b"zdir/"])
        self.assertEqual(names[2:], sorted(LISTED + [b"big.bin"]))
        # human-readable sizes and times
        self.assertRegex(page, r'big\.bin</a></td><td>3\.5 MiB</td><td>2023-11-14 22:13</td>')
        self.assertRegex(page, r'amp&amp;er\.txt</a></td><td>1\.4 KiB</td>')
        self.assertRegex(page, r'zdir/</a></td><td>-</td>')
        # every link leads to its file; the names left out are refused
        for name in HOSTILE:
            href = urllib.parse.quote(name, safe="")
            r = get(self.srv.port, "/d/" + href)
            want = (400, None) if name in UNREACHABLE else (200, self.sizes[name])
            self.assertEqual((r.status, len(r.body) if r.status == 200 else None), want, name)

    def test_empty_directory(self):
        os.makedirs(os.path.join(self.root, "empty"), exist_ok=True)
        r = get(self.srv.port, "/empty/")
        self.assertEqual(r.status, 200)
        self.assertIn(b'<a href="../">../</a>', r.body)
        r = get(self.srv.port, "/empty/?format=json")
        self.assertEqual(json.loads(r.body), {"path": "/empty", "entries": []})

    def test_json(self):
        r = get(self.srv.port, "/d/?format=json")
        self.assertEqual((r.status, r.h("content-type")), (200, "application/json"))
        doc = json.loads(r.body.decode("utf-8"))
        self.assertEqual(doc["path"], "/d")
        ents = doc["entries"]
        self.assertEqual([e["type"] for e in ents[:2]], ["directory", "directory"])
        by_href = {urllib.parse.unquote_to_bytes(e["href"]): e for e in ents}
        self.assertEqual(sorted(by_href), sorted(LISTED + [b"big.bin", b"zdir/", b"a<dir>/"]))
        for name in LISTED:
            e = by_href[name]
            self.assertEqual(e["size"], self.sizes[name])
            self.assertEqual(e["name"], name.decode("utf-8", "replace"))
        self.assertEqual(by_href[b"big.bin"]["mtime"], "2023-11-14T22:13:20Z")
        self.assertEqual(by_href[b"zdir/"]["name"], "zdir")
        r = get(self.srv.port, "/d/?x=1&format=json&y")
        self.assertEqual(r.h("content-type"), "application/json")
        self.assertEqual(get(self.srv.port, "/d/?format=jsonp").h("content-type"),
                         "text/html; charset=utf-8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
