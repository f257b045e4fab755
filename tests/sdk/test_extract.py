"""Safe extraction: member checks, kept internal links, refused hostile archives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sdk_mirror
from kmodkit.errors import FormatError, UsageError
from kmodkit.sdk import unpack_local_sdk
from kmodkit.sdk.extract import extract_archive, link_target_problem, member_path_problem


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("sdk/rules.mk", None),
        ("sdk/a..b/c", None),
        ("/etc/passwd", "is absolute"),
        ("sdk/../../x", "has a '..' component"),
        ("..", "has a '..' component"),
        ("sdk/new\nline", "holds a control character"),
        ("", "is empty"),
    ],
)
def test_member_names(name: str, problem: str | None) -> None:
    assert member_path_problem(name) == problem


@pytest.mark.parametrize(
    ("member", "target", "escapes"),
    [
        ("sdk/staging_dir/bin/cc", "gcc", False),
        ("sdk/linux", "build_dir/target/linux-6.6.93", False),
        ("sdk/a/b", "../../sdk2", False),  # still inside the archive root
        ("sdk/a", "../../etc", True),
        ("sdk/a", "/usr/bin", True),
    ],
)
def test_symlink_targets(member: str, target: str, escapes: bool) -> None:
    assert (link_target_problem(member, target) is not None) == escapes


def test_internal_links_modes_and_mtimes_are_kept(tmp_path: Path) -> None:
    sdk = sdk_mirror.tiny_sdk(tmp_path / "src")
    archive = sdk_mirror.pack(sdk, tmp_path / "sdk.tar.xz")
    dest = tmp_path / "out"
    dest.mkdir()
    extract_archive(archive, dest)
    tool = dest / "sdk/staging_dir/host/bin/tool"
    assert os.access(tool, os.X_OK)
    source = sdk / "staging_dir/host/bin/tool"
    assert int(tool.stat().st_mtime) == int(source.stat().st_mtime)  # make compares them
    assert os.readlink(dest / "sdk/staging_dir/host/bin/tool-alias") == "tool"


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device", "chain"])
def test_sdk_tarballs_given_to_build_are_checked_too(tmp_path: Path, kind: str) -> None:
    archive = sdk_mirror.write_compressed(sdk_mirror.evil_tar(kind), tmp_path / "evil.tar.xz")
    with pytest.raises(FormatError, match="unsafe member"):
        unpack_local_sdk(archive)
    local = Path(os.environ["KMODKIT_CACHE"]) / "sdk" / "local" / "evil"
    assert [p.name for p in local.iterdir() if p.name != ".lock"] == []


def test_a_local_tarball_is_unpacked_once(tmp_path: Path) -> None:
    archive = sdk_mirror.pack(sdk_mirror.tiny_sdk(tmp_path / "src"), tmp_path / "my-sdk.tar.zst")
    first = unpack_local_sdk(archive)
    (first / "marker").write_text("same entry\n")
    assert unpack_local_sdk(archive) == first and (first / "marker").exists()
    with pytest.raises(UsageError, match=r"tar\.xz/\.tar\.zst"):
        unpack_local_sdk(tmp_path / "my-sdk.zip")


def test_a_truncated_archive_is_a_format_error(tmp_path: Path) -> None:
    archive = sdk_mirror.pack(sdk_mirror.tiny_sdk(tmp_path / "src"), tmp_path / "sdk.tar.zst")
    archive.write_bytes(archive.read_bytes()[:200])
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(FormatError, match="cannot unpack archive"):
        extract_archive(archive, dest)
