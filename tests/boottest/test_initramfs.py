"""The initramfs writer: newc bytes the kernel accepts, deterministic, refusing unsafe paths."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from kmodkit.boottest.feed import Feed, FeedPackage, install
from kmodkit.boottest.initramfs import Initramfs, Node, build_initramfs, read_newc, write_newc
from kmodkit.errors import FormatError
from kmodkit.formats.model import Entry

NODES = [
    Node("init", "file", 0o755, b"#!/bin/sh\n"),
    Node("bin/busybox", "file", 0o755, b"\x7fELF" + bytes(range(256))),
    Node("bin/sh", "symlink", 0o777, target="busybox"),
    Node("dev/console", "chardev", 0o600, rdev=(5, 1)),
    Node("etc/modules.d/nft-offload", "file", 0o644, b"nf_flow_table_inet\nnft_flow_offload\n"),
    Node("lib/modules/6.1.0-50-amd64/x.ko", "file", 0o644, b"k" * 4099),
]


def _image(nodes: list[Node]) -> Initramfs:
    image = Initramfs()
    for node in nodes:
        image.add(node)
    return image


def test_same_content_same_bytes_whatever_the_order() -> None:
    shuffled = list(NODES)
    random.Random(7).shuffle(shuffled)
    first = build_initramfs(_image(NODES))
    assert build_initramfs(_image(shuffled)) == first
    assert first[:2] == b"\x1f\x8b" and first[4:8] == b"\0\0\0\0"  # gzip -n: no mtime


def test_round_trip_with_parents_first() -> None:
    raw = gzip.decompress(build_initramfs(_image(NODES)))
    assert raw[:6] == b"070701" and len(raw) % 4 == 0
    nodes = read_newc(raw)
    paths = [n.path for n in nodes]
    for i, path in enumerate(paths):
        parent = path.rpartition("/")[0]
        assert not parent or parent in paths[:i], path
    by_path = {n.path: n for n in nodes}
    for node in NODES:
        assert by_path[node.path] == node
    assert by_path["lib/modules"].kind == "dir" and by_path["lib/modules"].mode == 0o755


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "/etc/passwd", "lib/../../x", "lib//x", "./init", "", "a/b/..", "a\\b"],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(FormatError, match="unsafe path"):
        Initramfs().file(path, b"x")


def test_nothing_goes_below_a_symlink() -> None:
    image = Initramfs()
    image.symlink("lib", "/")
    with pytest.raises(FormatError, match="'lib' is a symlink"):
        image.file("lib/evil", b"x")


def test_two_different_copies_of_a_path_are_refused() -> None:
    image = Initramfs()
    image.file("etc/x", b"a")
    image.file("etc/x", b"a")  # the same content twice is fine (shared directories, too)
    with pytest.raises(FormatError, match="provided twice"):
        image.file("etc/x", b"b")


def test_installing_a_package_with_an_unsafe_path_names_it(tmp_path: Path) -> None:
    bad = FeedPackage(
        "kmod-evil",
        "1-r1",
        "x86_64",
        (),
        (Entry("etc/ok"), Entry("../../etc/shadow", data=b"x")),
        tmp_path / "kmod-evil_1-r1_x86_64.ipk",
    )
    with pytest.raises(FormatError, match=r"kmod-evil_1-r1_x86_64\.ipk: refusing to write: \.\./"):
        install(Feed(tmp_path, "ipk", [bad]), Initramfs())


def test_installing_a_package_with_an_escaping_symlink_is_refused(tmp_path: Path) -> None:
    bad = FeedPackage(
        "kmod-link",
        "1-r1",
        "x86_64",
        (),
        (Entry("lib", "symlink", 0o777, target="../.."), Entry("lib/x.ko", data=b"x")),
        tmp_path / "kmod-link_1-r1_x86_64.ipk",
    )
    image = Initramfs()
    with pytest.raises(FormatError, match="escaping-link"):
        install(Feed(tmp_path, "ipk", [bad]), image)
    assert image.paths() == []


def test_trailer_ends_the_archive() -> None:
    raw = write_newc(_image(NODES).nodes())
    assert b"TRAILER!!!\0" in raw[-128:]
    assert read_newc(raw + b"garbage after the trailer") == read_newc(raw)
