"""apk v3 repository index ``packages.adb`` (mirrors ``apk mkndx``), its signatures and checks.

Each index entry is the package's info object copied verbatim, plus ``file-size`` (the .apk size)
and ``hashes`` = sha256 of the package's ADB block payload; entries are sorted the apk way
(name, then version, then every other field). SIG blocks follow the ADB block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kmodkit.errors import FormatError, KmodkitError
from kmodkit.formats import adb, apk_sign
from kmodkit.formats import apk_schema as S
from kmodkit.formats.adb import AdbReader, AdbWriter
from kmodkit.formats.apk_read import deps_to_strings, text


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    arch: str
    description: str
    depends: tuple[str, ...]
    provides: tuple[str, ...]
    installed_size: int | None
    file_size: int | None
    sha256: bytes  # of the package's ADB block payload
    info: dict[str, S.Value]


@dataclass(frozen=True)
class IndexSignature:
    key_id: bytes
    hash_alg: int
    offset: int


@dataclass(frozen=True)
class ApkIndex:
    description: str
    packages: tuple[IndexEntry, ...]
    signatures: tuple[IndexSignature, ...]
    compression: str
    schema: int
    adb_payload: bytes
    sig_payloads: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    key_id: bytes | None
    reason: str


def build_index(
    apks: Sequence[tuple[str, bytes]],
    *,
    signing_key: apk_sign.PrivateKey | None = None,
    description: str = "",
    compression: Literal["none", "deflate"] = "deflate",
) -> bytes:
    """``packages.adb`` for ``(file name, .apk bytes)`` pairs, in apk mkndx's write order.

    Packages are taken in file-name order (as ``apk mkndx *.apk`` sees them), so the bytes do
    not depend on the order of ``apks``; signatures are deterministic ECDSA.
    """
    w = AdbWriter()
    n_fields = len(S.PKGINFO.fields)
    entries: list[tuple[S.Value, int]] = []
    for name, data in sorted(apks, key=lambda pair: pair[0].encode()):
        container = adb.parse_container(data, name, expected_schema=adb.SCHEMA_PACKAGE)
        reader = AdbReader(container.adb, name)
        root_slots = reader.slots(reader.root)
        if not root_slots:
            raise FormatError("package has no info object", where=name)
        src = reader.slots(root_slots[0])
        slots = [w.copy(reader, v) for v in src[:n_fields]]
        slots += [adb.NULL] * (n_fields - len(slots))
        slots[S.PKGINFO.index("file-size") - 1] = w.integer(len(data))
        identity = hashlib.sha256(container.adb).digest()
        slots[S.PKGINFO.index("hashes") - 1] = w.blob(identity)
        info = S.decode(reader, root_slots[0], S.PKGINFO)
        assert isinstance(info, dict)
        info["file-size"] = len(data)
        info["hashes"] = identity
        entries.append((info, w.obj(slots)))
    entries.sort(key=lambda pair: S.sort_key(S.PKGINFO)(pair[0]))
    desc = w.blob(description.encode())
    w.set_root(w.obj([desc, w.obj([val for _info, val in entries])]))
    payload = w.payload()
    blocks = [(adb.BLOCK_ADB, payload)]
    if signing_key is not None:
        blocks.append((adb.BLOCK_SIG, apk_sign.sign_adb(signing_key, adb.SCHEMA_INDEX, payload)))
    return adb.compress(adb.build_stream(adb.SCHEMA_INDEX, blocks), compression)


def _entry(info: S.Value) -> IndexEntry:
    d = info if isinstance(info, dict) else {}
    isize, fsize, digest = d.get("installed-size"), d.get("file-size"), d.get("hashes")
    return IndexEntry(
        name=text(d.get("name")),
        version=text(d.get("version")),
        arch=text(d.get("arch")),
        description=text(d.get("description")),
        depends=deps_to_strings(d.get("depends")),
        provides=deps_to_strings(d.get("provides")),
        installed_size=isize if isinstance(isize, int) else None,
        file_size=fsize if isinstance(fsize, int) else None,
        sha256=digest if isinstance(digest, bytes) else b"",
        info=d,
    )


def read_index(data: bytes, name: str = "<index>") -> ApkIndex:
    """Decode ``packages.adb`` (FormatError for undecodable input; signatures not checked)."""
    container = adb.parse_container(data, name, expected_schema=adb.SCHEMA_INDEX)
    reader = AdbReader(container.adb, name)
    root = S.decode(reader, reader.root, S.INDEX)
    if not isinstance(root, dict):
        raise FormatError("ADB root is not an object", where=name)
    if any(b.type == adb.BLOCK_DATA for b in container.blocks):
        raise FormatError("an index must not carry DATA blocks", where=name)
    packages = root.get("packages")
    sigs = []
    sig_payloads = []
    for blk in container.blocks[1:]:
        sig = apk_sign.parse_sig(blk.payload, f"{name}: SIG block at byte {blk.offset}")
        sigs.append(IndexSignature(sig.key_id, sig.hash_alg, blk.offset))
        sig_payloads.append(blk.payload)
    return ApkIndex(
        description=text(root.get("description")),
        packages=tuple(_entry(p) for p in (packages if isinstance(packages, list) else [])),
        signatures=tuple(sigs),
        compression=container.compression,
        schema=container.schema,
        adb_payload=container.adb,
        sig_payloads=tuple(sig_payloads),
    )


def verify_index(data: bytes, public_keys: Sequence[apk_sign.PublicKey]) -> VerifyResult:
    """Which of ``public_keys`` signed this index, or why none did (never raises for bad input)."""
    try:
        index = read_index(data)
    except KmodkitError as exc:
        return VerifyResult(False, None, f"unreadable index: {exc}")
    if not index.sig_payloads:
        return VerifyResult(False, None, "index is not signed")
    by_id = {apk_sign.key_id(k): k for k in public_keys}
    reasons = []
    for sig, payload in zip(index.signatures, index.sig_payloads, strict=True):
        key = by_id.get(sig.key_id)
        if key is None:
            reasons.append(f"signature by unknown key {sig.key_id.hex()}")
            continue
        try:
            apk_sign.verify_sig(key, index.schema, index.adb_payload, payload)
        except KmodkitError as exc:
            reasons.append(exc.message)
            continue
        return VerifyResult(True, sig.key_id, "signature verified")
    return VerifyResult(False, None, "; ".join(reasons))
