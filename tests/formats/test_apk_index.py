"""packages.adb: decoding vs apk adbdump, byte-identity with apk mkndx, signatures."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import adb, apk_schema, apk_sign
from kmodkit.formats.adb import AdbReader
from kmodkit.formats.apk_index import build_index, read_index, verify_index

FEED = ["kmod-nf-flow-6.6.93-r1.apk", "kmod-nft-offload-6.6.93-r1.apk"]


def parse_adbdump_txt(text: str) -> object:
    """Parse apk adbdump's YAML-like text into plain data (enough for these vectors)."""
    lines = [
        ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("# ", "#%"))
    ]
    pos = 0

    def scalar(key: str, raw: str) -> object:
        value = raw.split(" #")[0].strip()
        if key == "mode":
            return int(value, 8)
        return int(value) if value.isdigit() and key not in ("name", "version") else value

    def block(indent: int) -> object:
        nonlocal pos
        if lines[pos].startswith(" " * indent + "- "):
            items = []
            while pos < len(lines) and lines[pos].startswith(" " * indent + "- "):
                rest = lines[pos][indent + 2 :]
                if ":" in rest and not rest.startswith(("kernel=", "kmod-")):
                    lines[pos] = " " * (indent + 2) + rest
                    items.append(block(indent + 2))
                else:
                    items.append(rest.strip())
                    pos += 1
            return items
        obj: dict[str, object] = {}
        while (
            pos < len(lines)
            and lines[pos].startswith(" " * indent)
            and not lines[pos].startswith(" " * indent + "- ")
        ):
            if len(lines[pos]) - len(lines[pos].lstrip()) != indent:
                break
            key, _, raw = lines[pos].strip().partition(":")
            pos += 1
            raw = raw.strip()
            if raw == "|":
                body = []
                while pos < len(lines) and lines[pos].startswith(" " * (indent + 2)):
                    body.append(lines[pos][indent + 2 :] + "\n")
                    pos += 1
                obj[key] = "".join(body)
            elif raw == "" or raw.startswith("#"):
                obj[key] = block(indent + 2)
            else:
                obj[key] = scalar(key, raw)
        return obj

    return block(0)


@pytest.fixture(scope="module")
def feed(testdata: Path) -> Path:
    return testdata / "apk" / "feed"


@pytest.fixture(scope="module")
def pub(testdata: Path) -> apk_sign.PublicKey:
    return apk_sign.load_public_key((testdata / "apk/test-key.pub.pem").read_bytes(), "pub")


def test_txt_parser_agrees_with_json_vector(testdata: Path) -> None:
    apkdir = testdata / "apk"
    txt = parse_adbdump_txt((apkdir / "kmod-nft-offload-6.6.93-r1.adbdump.txt").read_text())
    assert txt == json.loads((apkdir / "kmod-nft-offload-6.6.93-r1.adbdump.json").read_text())


def test_decode_equals_adbdump(feed: Path) -> None:
    expected = parse_adbdump_txt((feed / "packages.adbdump.txt").read_text())
    container = adb.parse_container((feed / "packages.adb").read_bytes(), "packages.adb")
    reader = AdbReader(container.adb)
    decoded = apk_schema.decode(reader, reader.root, apk_schema.INDEX)
    assert apk_schema.to_plain(apk_schema.INDEX, decoded) == expected
    index = read_index((feed / "packages.adb").read_bytes())
    assert [p.name for p in index.packages] == ["kmod-nf-flow", "kmod-nft-offload"]
    assert [p.file_size for p in index.packages] == [(feed / n).stat().st_size for n in FEED]
    assert [s.key_id.hex() for s in index.signatures] == ["09851397befe8ca381684c95a5e98488"]
    assert index.signatures[0].hash_alg == 4


def test_index_hashes_are_sha256_of_package_adb(feed: Path) -> None:
    index = read_index((feed / "packages.adb").read_bytes())
    import hashlib

    for entry, fname in zip(index.packages, FEED, strict=True):
        block = adb.parse_container((feed / fname).read_bytes(), fname).adb
        assert entry.sha256 == hashlib.sha256(block).digest()


def test_build_index_adb_block_equals_apk_mkndx(
    feed: Path, testdata: Path, pub: apk_sign.PublicKey
) -> None:
    key = apk_sign.load_private_key((testdata / "apk/test-key.pem").read_bytes(), "key")
    apks = [(n, (feed / n).read_bytes()) for n in reversed(FEED)]
    ours = build_index(apks, signing_key=key)
    ref = adb.parse_container((feed / "packages.adb").read_bytes(), "ref")
    assert adb.parse_container(ours, "ours").adb == ref.adb
    assert ours == build_index(apks[::-1], signing_key=key)  # reproducible, order-independent
    result = verify_index(ours, [pub])
    assert result.ok and result.key_id == apk_sign.key_id(pub)


def test_verify_reference_index(feed: Path, pub: apk_sign.PublicKey) -> None:
    data = (feed / "packages.adb").read_bytes()
    assert verify_index(data, [pub]).ok
    stream = bytearray(adb.parse_container(data, "x").stream)
    stream[60] ^= 0x01  # inside the ADB block
    result = verify_index(bytes(stream), [pub])
    assert not result.ok and "does not verify" in result.reason
    other = apk_sign.generate_signing_key().public_key()
    assert "unknown key" in verify_index(data, [other]).reason
    unsigned = build_index([(n, (feed / n).read_bytes()) for n in FEED])
    assert verify_index(unsigned, [pub]).reason == "index is not signed"
    assert not verify_index(b"junk", [pub]).ok


def test_description_is_stored(feed: Path) -> None:
    data = build_index([(FEED[0], (feed / FEED[0]).read_bytes())], description="kmodkit test feed")
    assert read_index(data).description == "kmodkit test feed"


def test_read_index_rejects_packages(feed: Path) -> None:
    with pytest.raises(FormatError, match="schema"):
        read_index((feed / FEED[0]).read_bytes(), FEED[0])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_index_readers(feed: Path, pub: apk_sign.PublicKey, data: st.DataObject) -> None:
    """A damaged index either fails to verify or still carries the signed ADB payload, and
    any change inside the signed payload never verifies."""
    good = adb.parse_container((feed / "packages.adb").read_bytes(), "x")
    assert verify_index(good.stream, [pub]).ok
    raw = bytearray(good.stream)
    signed = range(raw.index(good.adb), raw.index(good.adb) + len(good.adb))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    blob = bytes(raw[: data.draw(st.integers(0, len(raw)))])
    touched_signed = blob[signed.start : signed.stop] != good.adb
    with contextlib.suppress(FormatError):
        read_index(blob)
    result = verify_index(blob, [pub])
    if result.ok:
        assert read_index(blob).adb_payload == good.adb and not touched_signed
    if touched_signed:
        assert not result.ok and result.reason
