"""opkg feed indexes as OpenWrt's package index step writes them, and a Packages parser.

``Packages.manifest`` is every control file with ``Filename``/``Size``/``SHA256sum`` inserted
before ``Description`` (ipkg-make-index.sh); ``Packages`` drops the build-only lines, is padded
for old usign, and is what ``Packages.gz`` (gzip -9n) and ``Packages.sig`` cover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodkit.errors import FormatError
from kmodkit.formats.control import Stanza, stanza_from_lines
from kmodkit.formats.gzipio import gzip_compress
from kmodkit.formats.ipk import read_ipk
from kmodkit.formats.usign import UsignSecretKey, pad_for_signing, sign
from kmodkit.fsutil import atomic_write_bytes

# grep -vE '^(Maintainer|LicenseFiles|Source|SourceName|Require|SourceDateEpoch)': prefixes.
FILTERED_PREFIXES = (b"Maintainer", b"LicenseFiles", b"Source", b"Require")
# ipkg-make-index.sh leaves the firmware's virtual packages out of every index.
UNINDEXED_PACKAGES = ("kernel", "libc")


@dataclass(frozen=True)
class OpkgIndex:
    manifest: bytes
    packages: bytes
    packages_gz: bytes


def manifest_stanza(filename: str, ipk: bytes) -> bytes:
    """One package's Packages.manifest stanza, its control text otherwise kept byte for byte."""
    control = read_ipk(ipk, filename).control_members["control"]
    extra = b"Filename: %s\nSize: %d\nSHA256sum: %s\n" % (
        filename.encode("utf-8"),
        len(ipk),
        hashlib.sha256(ipk).hexdigest().encode("ascii"),
    )
    lines = control.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: list[bytes] = []
    inserted = False
    for line in lines:
        if line.startswith(b"Description:"):
            out.append(extra.rstrip(b"\n"))
            inserted = True
        out.append(line)
    if not inserted:  # ipkg-make-index would lose Filename; keep the package installable
        out.append(extra.rstrip(b"\n"))
    return b"\n".join(out) + b"\n\n"


def filter_packages(manifest: bytes) -> bytes:
    """Packages = the manifest minus lines naming build-only fields (line filter, like grep)."""
    lines = manifest.split(b"\n")
    tail = lines.pop()  # b"" when the manifest ends with a newline
    kept = [line for line in lines if not line.startswith(FILTERED_PREFIXES)]
    return b"".join(line + b"\n" for line in kept) + tail


def build_feed_index(ipks: Sequence[tuple[str, bytes]]) -> OpkgIndex:
    """Index ``(file name relative to the feed, ipk bytes)`` pairs; input order is irrelevant."""
    ordered = sorted(ipks, key=lambda item: item[0].encode("utf-8"))
    names = [name for name, _ in ordered]
    if len(set(names)) != len(names):
        raise FormatError(f"duplicate file names in the feed: {sorted(names)}")
    stanzas = [
        manifest_stanza(name, blob)
        for name, blob in ordered
        if name.rsplit("/", 1)[-1].split("_", 1)[0] not in UNINDEXED_PACKAGES
    ]
    manifest = b"".join(stanzas) if ordered else b"\n"
    packages = pad_for_signing(filter_packages(manifest))
    return OpkgIndex(manifest, packages, gzip_compress(packages, 9))


def write_opkg_feed(
    feed_dir: Path,
    ipks: Sequence[tuple[str, bytes]],
    secret_key: UsignSecretKey | None,
) -> list[Path]:
    """Write Packages, Packages.gz, Packages.manifest (and Packages.sig) into ``feed_dir``.

    Each file is replaced atomically; without a key a stale Packages.sig is removed, since it
    would no longer match.
    """
    index = build_feed_index(ipks)
    outputs = [
        (feed_dir / "Packages", index.packages),
        (feed_dir / "Packages.gz", index.packages_gz),
        (feed_dir / "Packages.manifest", index.manifest),
    ]
    sig_path = feed_dir / "Packages.sig"
    if secret_key is not None:
        outputs.append((sig_path, sign(index.packages, secret_key).to_text().encode("ascii")))
    elif sig_path.exists():
        sig_path.unlink()
    for path, data in outputs:
        atomic_write_bytes(path, data)
    return [path for path, _ in outputs]


def parse_packages(data: bytes | str, where: str) -> list[Stanza]:
    """Stanzas of a Packages/Packages.manifest file, each with its fields in order, repeated
    fields and line numbers (control.Stanza): the one Packages reader, verify's included.

    Only an empty line ends a stanza: a line holding just a space continues the field above
    (OpenWrt's blank line inside a Description). Tolerates CRLF, extra blank lines and the
    signing padding; garbage raises FormatError with its line number. Every stanza must name
    its Package.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 at byte offset {exc.start}", where=where) from None
    else:
        text = data
    stanzas: list[Stanza] = []
    lines = text.split("\n")
    lines.append("")
    start = 0
    for number, line in enumerate(lines):
        if line and line != "\r":
            continue
        while start < number and not lines[start].strip():  # stray blanks between stanzas
            start += 1
        if number > start:
            stanza = stanza_from_lines(lines[start:number], where, start + 1)
            if not stanza.value("Package"):
                raise FormatError(f"line {start + 1}: stanza without a Package name", where=where)
            stanzas.append(stanza)
        start = number + 1
    return stanzas
