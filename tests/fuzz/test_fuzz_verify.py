"""verify_paths on damaged packages, feeds, signatures, keys and --index bases never raises.

Whatever the input, verify answers with findings (and the table, JSON, JUnit and annotation
renderings of them), so CI gets a report instead of a traceback.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

import fuzz_corpus as corpus
from kmodkit.formats import apk_sign
from kmodkit.formats.apk_index import build_index
from kmodkit.formats.opkg_feed import build_feed_index
from kmodkit.formats.usign import read_secret_key, sign
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.model import VerifyReport
from kmodkit.verify.report import github_annotations, render_table, to_json, to_junit


def judged(report: VerifyReport) -> VerifyReport:
    """Every rendering of the report works (a rich MarkupError once hid --json)."""
    Console(file=io.StringIO(), width=200).print(render_table(report, verbose=True))
    to_json(report, strict=True)
    to_junit(report, strict=True)
    github_annotations(report)
    return report


def in_tmp(files: dict[str, bytes], run: Callable[[Path], VerifyReport]) -> VerifyReport:
    with tempfile.TemporaryDirectory(prefix="kmodkit-fuzz-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return judged(run(root))


@cache
def opkg_feed() -> dict[str, bytes]:
    """A signed opkg feed of kmodkit's packages, with its public key beside it."""
    ipks = list(corpus.ipks()[:3])
    secret_text, public_text = corpus.usign_pair()
    index = build_feed_index(ipks)
    files = {f"feed/{name}": blob for name, blob in ipks}
    files["feed/Packages"] = index.packages
    files["feed/Packages.gz"] = index.packages_gz
    files["feed/Packages.sig"] = (
        sign(index.packages, read_secret_key(secret_text)).to_text().encode()
    )
    files["keys/fuzz.pub"] = public_text.encode()
    return files


@cache
def apk_feed() -> dict[str, bytes]:
    apks = list(corpus.apks()[:3])
    private_pem, public_pem = corpus.apk_key_pem()
    key = apk_sign.load_private_key(private_pem, "k")
    files = {f"feed/{name}": blob for name, blob in apks}
    # the kernel package is never indexed (feed.kernel-package), as in kmodkit's own feeds
    indexed = [a for a in apks if not a[0].startswith("kernel-")]
    files["feed/packages.adb"] = build_index(indexed, signing_key=key)
    files["keys/fuzz.pem"] = public_pem
    return files


def _feed_options(root: Path) -> VerifyOptions:
    return VerifyOptions(keys=root / "keys", target="x86/64", release="24.10")


def test_undamaged_feeds_pass() -> None:
    """The seeds are clean, so every failure the fuzz tests provoke comes from the damage."""
    for files in (opkg_feed(), apk_feed()):
        report = in_tmp(
            files, lambda root: verify_paths([root / "feed"], options=_feed_options(root))
        )
        assert report.failed == 0, report.failures()


@corpus.fuzz_settings(60)
@given(corpus.damaged_ipk())
def test_loose_ipk(damaged: tuple[str, bytes]) -> None:
    name, blob = damaged
    in_tmp({name: blob}, lambda root: verify_paths([root / name], options=VerifyOptions()))


@corpus.fuzz_settings(60)
@given(corpus.damaged_apk())
def test_loose_apk(damaged: tuple[str, bytes]) -> None:
    name, blob = damaged
    in_tmp({name: blob}, lambda root: verify_paths([root / name], options=VerifyOptions()))


@corpus.fuzz_settings(80)
@given(st.data())
def test_opkg_feed(data: st.DataObject) -> None:
    files = dict(opkg_feed())
    victim = data.draw(st.sampled_from(sorted(files)))
    if victim.endswith(".ipk"):
        files[victim] = data.draw(corpus.damaged_ipk())[1]
    else:
        files[victim] = data.draw(corpus.damaged(files[victim]))
    in_tmp(files, lambda root: verify_paths([root / "feed"], options=_feed_options(root)))


@corpus.fuzz_settings(80)
@given(st.data())
def test_apk_feed(data: st.DataObject) -> None:
    files = dict(apk_feed())
    victim = data.draw(st.sampled_from(sorted(files)))
    if victim.endswith(".adb"):
        files[victim] = data.draw(corpus.damaged_index())
    elif victim.endswith(".apk"):
        files[victim] = data.draw(corpus.damaged_apk())[1]
    else:
        files[victim] = data.draw(corpus.damaged(files[victim]))
    in_tmp(files, lambda root: verify_paths([root / "feed"], options=_feed_options(root)))


@corpus.fuzz_settings(60)
@given(st.data())
def test_index_bases(data: st.DataObject) -> None:
    """--index directories with a damaged Packages, Packages.gz or packages.adb."""
    kind = data.draw(st.sampled_from(["Packages", "Packages.gz", "packages.adb"]))
    if kind == "packages.adb":
        index = data.draw(corpus.damaged_index())
    else:
        seed = opkg_feed()[f"feed/{kind}"]
        index = data.draw(corpus.damaged(seed))
    name, ipk = corpus.ipks()[1]
    files = {f"base/{kind}": index, name: ipk}

    def run(root: Path) -> VerifyReport:
        options = VerifyOptions(index=(str(root / "base"),))
        return verify_paths([root / name], options=options)

    in_tmp(files, run)
