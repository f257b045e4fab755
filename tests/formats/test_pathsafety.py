"""formats.pathsafety: the one set of rules readers, writers and verify share."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats.pathsafety import Member, find_hazards, require_safe, safe_parts

M = Member


def kinds(*members: Member) -> list[tuple[str, str, bool]]:
    return [(h.kind, h.path, h.severe) for h in find_hazards(members)]


@pytest.mark.parametrize(
    "path", ["./../../x", "./etc/../../../etc/cron.d/evil", "../x", "/etc/passwd", "a\nb", "/"]
)
def test_traversal_absolute_and_control_characters_are_unsafe(path: str) -> None:
    assert safe_parts(path) is None
    assert kinds(M(path, "file")) == [("unsafe-path", path, True)]


def test_root_spellings_and_harmless_dots_are_safe() -> None:
    assert [safe_parts(p) for p in ("./", ".", "", "./a//b/./c/")] == [(), (), (), ("a", "b", "c")]
    ok = [
        M("./", "dir", 0o755),
        M("./usr/bin/x", "symlink", 0o777, "/bin/busybox"),
        M("./etc/modules-boot.d/a", "symlink", 0o777, "../modules.d/a"),
        M("./sbin/y", "symlink", 0o777, "../usr/bin/x"),
        M("./srv", "dir", 0o2775),  # setgid directories are not setgid files
    ]
    assert find_hazards(ok) == []
    require_safe(ok)


def test_links_that_leave_or_alias_the_root_and_writes_through_links() -> None:
    assert kinds(M("./etc", "symlink", 0o777, "/"), M("./etc/cron.d/evil", "file")) == [
        ("escaping-link", "./etc", True),
        ("escaping-link", "./etc/cron.d/evil", True),
    ]
    assert kinds(M("./lib", "symlink", 0o777, "../../.."), M("./lib/file", "file")) == [
        ("escaping-link", "./lib", True),
        ("escaping-link", "./lib/file", True),
    ]
    # resolved through the package's own links: b -> a/.. looks harmless, a -> ../.. is not
    chain = [M("x/a", "symlink", 0, "../.."), M("x/b", "symlink", 0, "a/../..")]
    assert kinds(*chain) == [("escaping-link", "x/a", True), ("escaping-link", "x/b", True)]
    assert kinds(M("a", "symlink", 0, "b"), M("b", "symlink", 0, "a"))[0][0] == "escaping-link"
    assert kinds(M("x/y", "symlink", 0, "../z")) == []


def test_hardlinks_duplicates_special_files_and_setuid() -> None:
    assert kinds(M("./a", "file"), M("./b", "hardlink", 0, "./a")) == [("hardlink", "./b", False)]
    assert kinds(M("./b", "hardlink", 0, "/etc/shadow")) == [("hardlink", "./b", True)]
    assert kinds(M("./b", "hardlink", 0, "./a"), M("./a", "file")) == [("hardlink", "./b", True)]
    assert kinds(M("./a", "file"), M("a", "file")) == [("duplicate", "a", True)]
    assert kinds(M("./etc/", "dir"), M("./etc", "dir")) == [("duplicate", "./etc", True)]
    for node in ("chardev", "blockdev", "fifo", "other"):
        assert kinds(M("./dev/x", node)) == [("special-file", "./dev/x", True)]
    assert kinds(M("./su", "file", 0o4755), M("./sg", "file", 0o2755)) == [
        ("setuid", "./su", True),
        ("setuid", "./sg", True),
    ]


def test_writers_guard_names_the_rule() -> None:
    with pytest.raises(FormatError, match=r"kmod-x: refusing to write: .*\(hardlink\)"):
        require_safe([M("./a", "file"), M("./b", "hardlink", 0, "./a")], "kmod-x")


def test_deep_and_long_inputs_stay_cheap() -> None:
    """Resolution is bounded (hops, steps) and prefix checks use a trie: linear work."""
    deep = "/".join(["d"] * 20_000)
    members = [M("d", "symlink", 0, "."), M(deep, "file")]  # d -> . is the root itself
    assert kinds(*members) == [("escaping-link", "d", True), ("escaping-link", deep, True)]
    many = [M(f"l{i}", "symlink", 0, f"l{i + 1}") for i in range(5_000)]
    assert {k for k, _, _ in kinds(*many)} <= {"escaping-link"}


_NAMES = st.lists(
    st.sampled_from(["a", "b", ".", "..", "", "etc", "a\nb"]), min_size=0, max_size=5
).map("/".join)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "./", "/"]).flatmap(lambda p: _NAMES.map(lambda n: p + n)),
            st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo", "other"]),
            st.sampled_from([0o644, 0o755, 0o4755, 0o2755]),
            st.sampled_from(["", "/"]).flatmap(lambda p: _NAMES.map(lambda n: p + n)),
        ),
        max_size=8,
    )
)
def test_no_hazard_means_every_rule_holds(raw: list[tuple[str, str, int, str]]) -> None:
    """find_hazards never raises, and when it finds nothing the members really are safe."""
    members = [Member(*m) for m in raw]
    hazards = find_hazards(members)
    assert find_hazards(members) == hazards  # deterministic
    if hazards:
        return
    parts = [safe_parts(m.path) for m in members]
    assert None not in parts and len(set(parts)) == len(parts)
    assert all(m.kind in ("file", "dir", "symlink") for m in members)
    assert all(m.kind == "dir" or not m.mode & 0o6000 for m in members)
    links = {p for m, p in zip(members, parts, strict=True) if m.kind == "symlink"}
    for p in parts:
        assert p is not None
        assert not any(p[:depth] in links for depth in range(1, len(p)))
