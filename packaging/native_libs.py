"""One copy of each native library in the bundle, and none that nothing loads (issue 17 finding 10), used by
packaging/street-kiosk.spec (:func:`drop_unneeded`, then :func:`share_copies`).

The wheels the kiosk needs each vendor their own native libraries (auditwheel renames them with a hash:
``pillow.libs/libjpeg-6dc8d115.so.62.4.0``), and PyInstaller adds the system's copies that other libraries
need (``libjpeg.so.62`` for libzbar). :func:`share_copies` finds the libraries collected more than once and
keeps one file of each where that is proven safe; every other copy becomes a symlink to it inside the bundle,
so each loader path still finds a file, and the dynamic loader (which recognises a file it has already mapped
by its device and inode) maps the library once.

Copies are candidates only when they are the same library with the same SONAME major version (the library's
promise of one binary interface): ``libjpeg.so.62`` and ``libjpeg-6dc8d115.so.62.4.0`` are, Qt's FFmpeg 7
(``libavcodec.so.61``) and OpenCV's FFmpeg 8 (``libavcodec-....so.63``) are not. Byte-identical copies are
always shared. Otherwise the kept copy must *serve* each other copy, checked on the files themselves (the
ELF dynamic tables, read with objdump, which PyInstaller needs on Linux anyway):

- it defines every symbol version the other defines (the loader refuses a missing version), and
- it exports every dynamic symbol the other exports, at the same version,

so every program or library that loads the other copy, inside the bundle or on the system, finds all it
needs in the kept one. Among the copies that serve all others the newest upstream version is kept (a newer
release of one SONAME stands in for an older one, never the other way round), then the smallest file. A group
where no copy serves the others stays as it is, and says why.

``python packaging/native_libs.py DIR`` lists the groups of a built bundle's ``_internal`` folder and what
would be shared, as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

_HASH = re.compile(r"-[0-9a-f]{8}(?=[-.])")


def library_key(name: str) -> tuple[str, str] | None:
    """(library, SONAME major) of a shared library's file name, without auditwheel's hashes; None otherwise.

    ``libjpeg-6dc8d115.so.62.4.0`` and ``libjpeg.so.62`` -> ("libjpeg", "62"); ``libavcodec.so.61`` ->
    ("libavcodec", "61"); ``libscipy_openblas64_-32a4b2a6.so`` -> ("libscipy_openblas64_", "").
    """
    if not name.startswith("lib") or ".so" not in name:
        return None
    stem, _, rest = name.partition(".so")
    stem = _HASH.sub("", stem + ".")[:-1]
    major = rest.lstrip(".").split(".")[0]
    return stem, major


def _version_tuple(path: str) -> tuple[int, ...]:
    """The upstream version in the real file's name (``libpng16.so.16.39.0`` -> (16, 39, 0))."""
    tail = os.path.basename(os.path.realpath(path)).partition(".so")[2]
    return tuple(int(p) for p in re.findall(r"\d+", tail))


@dataclass
class Elf:
    """What the dynamic loader sees of one shared library."""

    path: str
    soname: str | None = None
    verdefs: set[str] = field(default_factory=set)
    exports: set[tuple[str, str]] = field(default_factory=set)  # (symbol, version or "")

    @classmethod
    def read(cls, path: str) -> Elf:
        elf = cls(path)
        headers = _objdump("-p", path)
        in_defs = False
        for line in headers.splitlines():
            words = line.split()
            if words[:1] == ["SONAME"]:
                elf.soname = words[1]
            if line.startswith("Version definitions:"):
                in_defs = True
            elif in_defs and len(words) == 4 and words[0].isdigit():
                if not int(words[1], 16) & 1:  # flag 1: the base version, the file's own name
                    elf.verdefs.add(words[3])
            elif in_defs and not line.strip():
                in_defs = False
        for line in _objdump("-T", path).splitlines():
            head, tab, tail = line.partition("\t")
            if not tab or "*UND*" in head or head[17:18] == "l":  # undefined, or local
                continue
            words = tail.split()
            if len(words) < 2:
                continue
            version = words[1].strip("()") if len(words) >= 3 else ""
            elf.exports.add((words[-1], "" if version == "Base" else version))
        return elf

    def serves(self, other: Elf) -> list[str]:
        """What ``other`` offers that this copy lacks (empty: this copy serves every user of ``other``)."""
        lacking = [f"version {v}" for v in sorted(other.verdefs - self.verdefs)]
        names = {name for name, _ in self.exports}
        for name, version in sorted(other.exports - self.exports):
            if version or name not in names:
                lacking.append(f"{name}@{version}" if version else name)
        return lacking


def _objdump(flag: str, path: str) -> str:
    # Untranslated: under zh_CN objdump says 版本定义 for "Version definitions".
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    return subprocess.run(["objdump", flag, path], capture_output=True, text=True, check=True, env=env).stdout


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass
class Group:
    """The copies of one library (bundle destination -> source file) and the decision about them."""

    key: tuple[str, str]
    copies: dict[str, str]
    keep: str | None = None
    why: str = ""


def decide(group: Group) -> Group:
    """Pick the copy that serves all others (see the module's docstring), or say why none does."""
    dests = sorted(group.copies)
    digests = {d: _digest(group.copies[d]) for d in dests}
    if len(set(digests.values())) == 1:
        group.keep, group.why = min(dests, key=len), "byte-identical"
        return group
    elves = {d: Elf.read(group.copies[d]) for d in dests}
    unnamed = [d for d in dests if library_key(elves[d].soname or "") != group.key]
    if unnamed:  # a plugin (loaded by path, not by name) or a renamed file: nothing links to it by this name
        group.why = f"not a linked library of this name: {', '.join(os.path.basename(d) for d in unnamed)}"
        return group
    order = sorted(dests, key=lambda d: (tuple(-n for n in _version_tuple(group.copies[d])),
                                         os.path.getsize(group.copies[d]), d))
    reasons = []
    for candidate in order:
        lacking = {d: elves[candidate].serves(elves[d]) for d in dests if d != candidate}
        missing = {d: gaps for d, gaps in lacking.items() if gaps}
        if not missing:
            group.keep = candidate
            group.why = "serves the others (same SONAME major; every symbol version and export)"
            return group
        d, gaps = next(iter(missing.items()))
        reasons.append(f"{os.path.basename(candidate)} lacks {len(gaps)} of {os.path.basename(d)}'s exports "
                       f"(e.g. {', '.join(gaps[:3])})")
    group.why = "; ".join(reasons)
    return group


def groups(entries: list[tuple[str, str]]) -> list[Group]:
    """Libraries collected more than once: (destination in the bundle, source file) -> decided groups."""
    by_key: dict[tuple[str, str], dict[str, str]] = {}
    for dest, src in entries:
        key = library_key(os.path.basename(dest))
        if key is not None and os.path.isfile(src):
            by_key.setdefault(key, {})[dest] = src
    return [decide(Group(key, copies)) for key, copies in sorted(by_key.items()) if len(copies) > 1]


def share_copies(binaries: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], list[Group]]:
    """The TOC with every shared copy replaced by a SYMLINK entry to the kept one, and the groups found."""
    files = [(dest, src) for dest, src, kind in binaries if kind != "SYMLINK"]
    found = groups(files)
    links = {}
    for group in found:
        if group.keep is None:
            continue
        for dest in group.copies:
            if dest != group.keep:
                links[dest] = os.path.relpath(group.keep, os.path.dirname(dest) or ".")
    out = [(dest, links[dest], "SYMLINK") if dest in links else (dest, src, kind) for dest, src, kind in binaries]
    return out, found


SYSTEM_DIRS = ("/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/")


def _needed(path: str) -> list[str]:
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return []
    return [line.split()[1] for line in _objdump("-p", path).splitlines() if line.strip().startswith("NEEDED")]


def drop_unneeded(binaries: list[tuple[str, str, str]], keep: set[str]) -> tuple[list[tuple[str, str, str]],
                                                                                   list[tuple[str, int]]]:
    """Leave out the system libraries PyInstaller collected for files the spec then left out (Qt's GTK theme and
    WebEngine brought GTK, Pango, Cairo, NSS...): a library from the system's folders, at the top of the bundle,
    that no file kept in the bundle needs (``NEEDED``, by file name, SONAME or a symlink's name), repeated until
    nothing more goes. ``keep``: names loaded another way (libzbar, by ctypes). Returns the TOC and what went."""
    target = {dest: os.path.normpath(os.path.join(os.path.dirname(dest), src))
              for dest, src, kind in binaries if kind == "SYMLINK"}
    candidates = {dest: src for dest, src, kind in binaries if kind == "BINARY" and "/" not in dest
                  and src.startswith(SYSTEM_DIRS) and dest not in keep}
    names: dict[str, set[str]] = {dest: {dest} for dest in candidates}
    for link, dest in target.items():
        while dest in target:
            dest = target[dest]
        if dest in names:
            names[dest].add(os.path.basename(link))
    for dest, src in candidates.items():
        soname = Elf.read(src).soname
        if soname:
            names[dest].add(soname)
    needs = {dest: _needed(src) for dest, src, kind in binaries if kind != "SYMLINK" and os.path.isfile(src)}
    alive = set(needs)
    while True:
        wanted = {name for dest in alive for name in needs[dest]}
        dead = {dest for dest in candidates if dest in alive and not names[dest] & wanted}
        if not dead:
            break
        alive -= dead
    gone = {dest for dest in candidates if dest not in alive}
    out = [(d, s, k) for d, s, k in binaries if d not in gone and not (k == "SYMLINK" and _final(d, target) in gone)]
    return out, sorted((dest, os.path.getsize(candidates[dest])) for dest in gone)


def _final(dest: str, target: dict[str, str]) -> str:
    while dest in target:
        dest = target[dest]
    return dest


def report(found: list[Group]) -> list[dict[str, object]]:
    return [{"library": "{}.so.{}".format(*g.key).rstrip("."), "copies": sorted(g.copies), "kept": g.keep,
             "why": g.why, "bytes_saved": sum(os.path.getsize(s) for d, s in g.copies.items() if g.keep
                                              and d != g.keep)} for g in found]


def main(argv: list[str]) -> int:
    internal = argv[0]
    entries = []
    for folder, _dirs, names in os.walk(internal):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path) and library_key(name):
                entries.append((os.path.relpath(path, internal), path))
    print(json.dumps(report(groups(entries)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
