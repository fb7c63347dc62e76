#!/usr/bin/env python3
"""Arrows only point down: fail when a file under src/ includes a header of a
layer above its own (docs/architecture.md).

    cli -> http -> api -> tls -> sendfile -> vfs + fs/* -> pager -> vm -> io -> core

A folder may include headers of its own layer and the layers below.  The file
systems share a layer but are siblings: fs/hostfs may not include fs/objfs.
Public headers (include/vmsend/*.h) sit at the layer that implements them.
A folder this script does not know is an error too: give it a layer here.

usage: scripts/check-layers.py [SOURCE_ROOT]   (exit 0 clean, 1 violations)
"""
import os
import re
import sys

# Lowest first.  A key matches a path's first component, or its first two
# for "fs/...".
LAYERS = [
    ("core",),
    ("io",),
    ("vm",),
    ("pager",),
    ("vfs", "fs"),
    ("sendfile",),
    ("tls",),
    ("api", "vmsend/vmsend.h"),
    ("http", "vmsend/http.h"),
    ("cli",),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder(rel):
    """The layer key and the folder of a path relative to src/ (or include/)."""
    parts = rel.split("/")
    if rel.startswith("vmsend/"):
        return rel, "include/vmsend"
    if parts[0] == "fs" and len(parts) > 2:
        return "fs", "fs/" + parts[1]
    return parts[0], parts[0]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    src = os.path.join(root, "src")
    bad = []
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src)
            key, fold = folder(rel)
            if key not in RANK:
                bad.append("%s: folder %s has no layer (add it to scripts/check-layers.py)"
                           % (os.path.relpath(path, root), fold))
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue  # "foo.h" beside the file, or a system header
                    ikey, ifold = folder(m.group(1))
                    if ikey not in RANK:
                        continue  # tests/support and the like are not src/ layers
                    where = "%s:%d" % (os.path.relpath(path, root), n)
                    if RANK[ikey] > RANK[key]:
                        bad.append("%s: %s (layer %s) includes %s from %s, a layer above"
                                   % (where, fold, key, m.group(1), ikey))
                    elif ikey == "fs" and key == "fs" and ifold != fold:
                        bad.append("%s: %s includes %s: file systems do not include each other"
                                   % (where, fold, m.group(1)))
    for b in bad:
        print(b)
    if bad:
        print("check-layers: %d include(s) point up; see docs/architecture.md" % len(bad))
        return 1
    print("check-layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
