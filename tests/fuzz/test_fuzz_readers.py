"""Every reader, fed damaged real artifacts: only kmodkit's own error class may escape.

A reader that raises anything else (IndexError, ValueError, struct.error, UnicodeDecodeError,
RecursionError...) crashes verify with a traceback instead of naming the file at fault.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzz_corpus as corpus
from kmodkit.errors import KmodkitError
from kmodkit.formats import adb, apk_index, apk_schema, apk_sign, apk_version, opkg_version
from kmodkit.formats.apk import read_apk
from kmodkit.formats.apk_read import apk_hazards
from kmodkit.formats.control import meta_from_fields, parse_depends, read_control
from kmodkit.formats.depends import parse_apk_dependency
from kmodkit.formats.gzipio import gzip_decompress
from kmodkit.formats.ipk import read_ipk
from kmodkit.formats.opkg_feed import parse_packages
from kmodkit.formats.tarball import read_ar, read_tar, tar_hazards
from kmodkit.formats.usign import read_public_key, read_secret_key, read_signature
from kmodkit.kernel.modinfo import read_modinfo


def only_kmodkit_errors(read: Callable[[], object]) -> object:
    try:
        return read()
    except KmodkitError as exc:
        assert str(exc)  # a one-line cause, never empty
        return None


@corpus.fuzz_settings(150)
@given(corpus.damaged_ipk())
def test_read_ipk(damaged: tuple[str, bytes]) -> None:
    name, blob = damaged
    pkg = only_kmodkit_errors(lambda: read_ipk(blob, name))
    if pkg is not None:
        only_kmodkit_errors(lambda: meta_from_fields(pkg.fields))  # type: ignore[attr-defined]


@corpus.fuzz_settings(150)
@given(st.data())
def test_read_tar_gzip_and_ar(data: st.DataObject) -> None:
    _, ipk = data.draw(st.sampled_from(corpus.ipks()))
    outer_tar = gzip_decompress(ipk, "seed")[0]
    tar = data.draw(corpus.damaged(outer_tar))
    layer = only_kmodkit_errors(lambda: read_tar(tar, "t.tar"))
    if layer is not None:
        tar_hazards(layer)  # type: ignore[arg-type]
    only_kmodkit_errors(lambda: gzip_decompress(data.draw(corpus.damaged(ipk)), "t.gz"))
    only_kmodkit_errors(lambda: read_ar(b"!<arch>\n" + data.draw(corpus.damaged(tar)), "a"))


@corpus.fuzz_settings(200)
@given(st.data())
def test_control_depends_and_versions(data: st.DataObject) -> None:
    seeds = tuple(t.encode() for t in corpus.control_texts())
    text = data.draw(corpus.damaged_text(seeds)).decode("utf-8", "replace")
    stanza = only_kmodkit_errors(lambda: read_control(text, "control"))
    if stanza is None:
        return
    fields = dict(stanza)  # type: ignore[call-overload]
    only_kmodkit_errors(lambda: meta_from_fields(list(fields.items())))
    depends = fields.get("Depends", "")
    only_kmodkit_errors(lambda: parse_depends(depends))
    for token in depends.replace(",", " ").split():
        only_kmodkit_errors(lambda: parse_apk_dependency(token))  # noqa: B023
    version = fields.get("Version", "")
    only_kmodkit_errors(lambda: opkg_version.compare_versions(version, "6.6.93-r1"))
    only_kmodkit_errors(lambda: apk_version.compare(version, "6.6.93-r1"))
    only_kmodkit_errors(lambda: apk_version.satisfies(version, ">=", "1.0"))


@corpus.fuzz_settings(150)
@given(corpus.damaged_text(corpus.packages_files()))
def test_parse_packages(blob: bytes) -> None:
    stanzas = only_kmodkit_errors(lambda: parse_packages(blob, "Packages"))
    for stanza in stanzas or []:  # type: ignore[attr-defined]
        assert stanza.value("Package")


@corpus.fuzz_settings(150)
@given(corpus.damaged_apk())
def test_read_apk(damaged: tuple[str, bytes]) -> None:
    name, blob = damaged
    pkg = only_kmodkit_errors(lambda: read_apk(blob, name))
    if pkg is not None:
        apk_hazards(pkg)  # type: ignore[arg-type]


@corpus.fuzz_settings(150)
@given(st.data())
def test_adb_values_and_schemas(data: st.DataObject) -> None:
    """The raw ADB layer: any value of a damaged payload decodes or raises FormatError."""
    _, blob = data.draw(st.sampled_from(corpus.apks()))
    payload = data.draw(corpus.damaged(adb.parse_container(blob, "seed").adb))
    only_kmodkit_errors(lambda: apk_schema.decode_root(payload, apk_schema.PACKAGE, "p"))
    only_kmodkit_errors(lambda: apk_schema.decode_root(payload, apk_schema.INDEX, "i"))


@corpus.fuzz_settings(150)
@given(corpus.damaged_index())
def test_read_and_verify_index(blob: bytes) -> None:
    only_kmodkit_errors(lambda: apk_index.read_index(blob, "packages.adb"))
    key = apk_sign.load_public_key(corpus.apk_key_pem()[1], "k")
    result = apk_index.verify_index(blob, [key])  # never raises
    assert result.ok or result.reason


@corpus.fuzz_settings(150)
@given(st.data())
def test_usign_and_apk_keys(data: st.DataObject) -> None:
    secret, public = corpus.usign_pair()
    signature = (corpus.VECTORS / "usign/Packages.sig").read_text()
    for text, read in (
        (public, read_public_key),
        (secret, read_secret_key),
        (signature, read_signature),
    ):
        broken = data.draw(corpus.damaged(text.encode())).decode("utf-8", "replace")
        only_kmodkit_errors(lambda: read(broken, "key"))  # type: ignore[operator]  # noqa: B023
    for pem, load in zip(
        corpus.apk_key_pem(), (apk_sign.load_private_key, apk_sign.load_public_key), strict=True
    ):
        broken_pem = data.draw(corpus.damaged(pem))
        only_kmodkit_errors(lambda: load(broken_pem, "pem"))  # type: ignore[operator]  # noqa: B023


@corpus.fuzz_settings(150)
@given(st.data())
def test_read_modinfo(data: st.DataObject) -> None:
    elf = corpus.module(data.draw(st.sampled_from(["nf_flow_table", "a"])), "nf_conntrack")
    only_kmodkit_errors(lambda: read_modinfo(data.draw(corpus.damaged(elf)), "x.ko"))


@pytest.mark.parametrize("reader", ["ipk", "apk", "index", "packages"])
def test_undamaged_seeds_read(reader: str) -> None:
    """The seeds themselves read cleanly, so the fuzz tests start from valid artifacts."""
    if reader == "ipk":
        assert all(read_ipk(blob, name).meta.name for name, blob in corpus.ipks())
    elif reader == "apk":
        assert all(read_apk(blob, name).name for name, blob in corpus.apks())
    elif reader == "index":
        assert all(apk_index.read_index(blob).packages for blob in corpus.index_files())
    else:
        assert all(parse_packages(blob, "P") for blob in corpus.packages_files())
