"""The generate/deps task functions (kmodkit.cli.catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.cli import catalog as cli
from kmodkit.errors import UsageError
from kmodkit.resolve import resolve_closure


def test_generate_writes_a_src_link_feed(tmp_path: Path) -> None:
    out = tmp_path / "feed"
    status = cli.generate(
        release="24.10",
        target="x86-64",
        package="kmod-nft-offload",
        flavour="buildroot",
        out=str(out),
        feeds=[],
    )
    assert status == 0
    assert (out / "nft-offload" / "Makefile").is_file()
    assert (out / "_kmodkit" / "Config.in").is_file()
    assert not list(out.parent.glob(".feed.*"))  # no temporary directory left behind


def test_generate_rejects_unknown_flavour(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="flavour"):
        cli.generate(
            release="24.10",
            target="x86_64",
            package="kmod-nft-offload",
            flavour="docker",
            out=str(tmp_path),
            feeds=[],
        )


def test_deps_formats(capsys: pytest.CaptureFixture[str]) -> None:
    closure = resolve_closure(
        load_catalog(),
        "kmod-nft-offload",
        release=lookup_release("24.10"),
        target=lookup_target("x86_64"),
    )
    dot = cli.format_deps(closure, "dot")
    assert dot.startswith("digraph deps {") and '"kmod-nft-offload" -> "kmod-nf-flow";' in dot
    mermaid = cli.format_deps(closure, "mermaid")
    assert mermaid.startswith("graph LR") and "-->" in mermaid
    data = json.loads(cli.format_deps(closure, "json"))
    assert data["packages"][-1]["name"] == "kmod-nft-offload"
    assert (
        cli.deps(package="kmod-nft-offload", release="21.02", target="x86_64", fmt="tree", feeds=[])
        == 0
    )
    assert "kmod-nf-conntrack6" in capsys.readouterr().out
    with pytest.raises(UsageError):
        cli.deps(package="kmod-nft-offload", release="24.10", target="x86_64", fmt="svg", feeds=[])
