from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.kernel.kbuild import ModuleResult
from kmodkit.kernel.modinfo import read_modinfo


def test_not_elf_is_format_error() -> None:
    with pytest.raises(FormatError, match=r"x\.ko"):
        read_modinfo(b"hello, not an ELF file", "x.ko")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_escape_as_raw_exceptions(data: bytes) -> None:
    with pytest.raises(FormatError):
        read_modinfo(b"\x7fELF" + data, "fuzz.ko")


@pytest.mark.kernel
def test_truncated_module_is_format_error(compiled_chain: dict[str, ModuleResult]) -> None:
    ko = compiled_chain["lib/libcrc32c.ko"].ko
    assert ko is not None
    data = ko.read_bytes()
    assert read_modinfo(data, "libcrc32c.ko").name == "libcrc32c"
    for cut in (16, 64, len(data) // 2, len(data) - 100):
        with pytest.raises(FormatError, match=r"libcrc32c\.ko"):
            read_modinfo(data[:cut], "libcrc32c.ko")
