"""apk v3 schemas (mirrors apk-tools' apk_adb.c): field numbers, decoding and sort order.

A schema says how to read a value (blob, int, object with named fields, array of items) and how
apk orders values of that kind when it sorts an array before writing it (``adb_wa_sort``:
compare every field in index order; versions compare as versions, blobs bytewise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union

from kmodkit import limits
from kmodkit.errors import FormatError
from kmodkit.formats import apk_version
from kmodkit.formats.adb import AdbReader, TooManyValues, val_value

ScalarKind = Literal["string", "version", "hex", "int", "oct"]


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "oct")


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: tuple[tuple[str, Kind], ...]  # field i+1

    def index(self, field: str) -> int:
        for i, (name, _kind) in enumerate(self.fields, 1):
            if name == field:
                return i
        raise KeyError(field)


@dataclass(frozen=True)
class ArraySchema:
    item: Kind
    sort: Literal["none", "sort", "unique"] = "none"


Kind = Union[Scalar, ObjectSchema, ArraySchema]  # noqa: UP007 (used at runtime before 3.12)
Value = Union[bytes, int, dict[str, "Value"], list["Value"], None]  # noqa: UP007

STRING = Scalar("string")
VERSION = Scalar("version")
HEX = Scalar("hex")
INT = Scalar("int")
OCT = Scalar("oct")

DEPENDENCY = ObjectSchema("dependency", (("name", STRING), ("version", VERSION), ("match", INT)))
DEPENDENCIES = ArraySchema(DEPENDENCY, "unique")
STRINGS = ArraySchema(STRING)

PKGINFO = ObjectSchema(
    "pkginfo",
    (
        ("name", STRING),
        ("version", VERSION),
        ("hashes", HEX),
        ("description", STRING),
        ("arch", STRING),
        ("license", STRING),
        ("origin", STRING),
        ("maintainer", STRING),
        ("url", STRING),
        ("repo-commit", HEX),
        ("build-time", INT),
        ("installed-size", INT),
        ("file-size", INT),
        ("provider-priority", INT),
        ("depends", DEPENDENCIES),
        ("provides", DEPENDENCIES),
        ("replaces", DEPENDENCIES),
        ("install-if", DEPENDENCIES),
        ("recommends", DEPENDENCIES),
        ("layer", INT),
        ("tags", STRINGS),
    ),
)
ACL = ObjectSchema(
    "acl",
    (("mode", OCT), ("user", STRING), ("group", STRING), ("xattrs", ArraySchema(HEX, "sort"))),
)
FILE = ObjectSchema(
    "file",
    (("name", STRING), ("acl", ACL), ("size", INT), ("mtime", INT), ("hash", HEX), ("target", HEX)),
)
DIR = ObjectSchema("dir", (("name", STRING), ("acl", ACL), ("files", ArraySchema(FILE, "sort"))))
SCRIPT_NAMES = (
    "trigger",
    "pre-install",
    "post-install",
    "pre-deinstall",
    "post-deinstall",
    "pre-upgrade",
    "post-upgrade",
)
SCRIPTS = ObjectSchema("scripts", tuple((n, STRING) for n in SCRIPT_NAMES))
PACKAGE = ObjectSchema(
    "package",
    (
        ("info", PKGINFO),
        ("paths", ArraySchema(DIR, "sort")),
        ("scripts", SCRIPTS),
        ("triggers", STRINGS),
        ("replaces-priority", INT),
    ),
)
INDEX = ObjectSchema(
    "index",
    (("description", STRING), ("packages", ArraySchema(PKGINFO, "sort")), ("pkgname-spec", STRING)),
)


class DecodeBudget:
    """Bounds the work of decoding one ADB block: values visited and blob bytes materialised.

    apk de-duplicates values, so one object may be referenced from many places; a few KB of
    shared references would otherwise decode into gigabytes (MAX_ADB_VALUES and
    MAX_ADB_DECODED_BYTES in ``kmodkit.limits``).
    """

    def __init__(
        self, values: int = limits.MAX_ADB_VALUES, size: int = limits.MAX_ADB_DECODED_BYTES
    ) -> None:
        self.values_left = values
        self.bytes_left = size
        self.values = values
        self.size = size

    def error(self, reader: AdbReader, val: int) -> limits.LimitExceeded:
        if self.bytes_left < 0:
            what = limits.exceeded("MAX_ADB_DECODED_BYTES", self.size, "decoded blob data")
        else:
            what = f"too many values decoded: over the MAX_ADB_VALUES limit ({self.values})"
        return limits.LimitExceeded(
            f"{what} (shared references?) at ADB offset {val_value(val)}", where=reader.where
        )


def decode(reader: AdbReader, val: int, kind: Kind, budget: DecodeBudget | None = None) -> Value:
    """Decode a value by schema into bytes / int / dict (field name → value) / list."""
    if budget is None:
        budget = DecodeBudget()
    budget.values_left -= 1
    if isinstance(kind, Scalar):
        if kind.is_int:
            if budget.values_left < 0:
                raise budget.error(reader, val)
            return reader.integer(val)
        blob = reader.blob(val)
        if blob:
            budget.bytes_left -= len(blob)
        if budget.values_left < 0 or budget.bytes_left < 0:
            raise budget.error(reader, val)
        return blob
    try:  # the slots count against the budget before the list of them is even built
        slots = reader.slots(val, budget.values_left)
    except TooManyValues:
        budget.values_left = -1
        raise budget.error(reader, val) from None
    budget.values_left -= len(slots)  # read, even those skipped below
    if isinstance(kind, ArraySchema):
        items = [decode(reader, v, kind.item, budget) for v in slots]
        return [item for item in items if item is not None]
    out: dict[str, Value] = {}
    for i, v in enumerate(slots):
        if i >= len(kind.fields) or v == 0:
            continue  # unknown trailing fields are ignored, as apk does
        name, sub = kind.fields[i]
        item = decode(reader, v, sub, budget)
        if item is not None:
            out[name] = item
    return out


def decode_root(payload: bytes, schema: ObjectSchema, where: str) -> dict[str, Value]:
    reader = AdbReader(payload, where)
    value = decode(reader, reader.root, schema)
    if not isinstance(value, dict):
        raise FormatError("ADB root is not an object", where=where)
    return value


# --------------------------------------------------------------------------- apk sort order


def _cmp_bytes(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def compare(kind: Kind, a: Value, b: Value) -> int:
    """adb_ro_cmp in ADB_OBJCMP_EXACT mode, on decoded values."""
    if isinstance(kind, Scalar):
        if kind.is_int:
            x = a if isinstance(a, int) else 0
            y = b if isinstance(b, int) else 0
            return (x > y) - (x < y)
        if kind.kind == "version":
            if not isinstance(a, bytes) or not isinstance(b, bytes):
                return 0  # apk: a null version compares equal to anything
            return apk_version.compare(a.decode("latin-1"), b.decode("latin-1"))
        return _cmp_bytes(a if isinstance(a, bytes) else b"", b if isinstance(b, bytes) else b"")
    if isinstance(kind, ArraySchema):
        la = a if isinstance(a, list) else []
        lb = b if isinstance(b, list) else []
        for i in range(max(len(la), len(lb))):
            r = compare(kind.item, la[i] if i < len(la) else None, lb[i] if i < len(lb) else None)
            if r:
                return r
        return 0
    da = a if isinstance(a, dict) else {}
    db = b if isinstance(b, dict) else {}
    for name, sub in kind.fields:
        if name in da or name in db:
            r = compare(sub, da.get(name), db.get(name))
            if r:
                return r
    return 0


def sort_key(kind: Kind) -> Callable[[Value], Any]:
    return functools.cmp_to_key(functools.partial(compare, kind))


def to_plain(kind: Kind, value: Value) -> object:
    """The JSON view ``apk adbdump`` prints: text, hex for hashes, dependencies as strings."""
    from kmodkit.formats.depends import format_dependency

    if isinstance(kind, Scalar):
        if isinstance(value, bytes):
            return value.hex() if kind.kind == "hex" else value.decode("utf-8", "replace")
        return value
    if isinstance(kind, ArraySchema):
        return [to_plain(kind.item, v) for v in (value if isinstance(value, list) else [])]
    d = value if isinstance(value, dict) else {}
    if kind is DEPENDENCY:
        name, version, match = d.get("name"), d.get("version"), d.get("match")
        return format_dependency(
            name.decode() if isinstance(name, bytes) else "",
            version.decode() if isinstance(version, bytes) else None,
            match if isinstance(match, int) else None,
        )
    return {name: to_plain(sub, d[name]) for name, sub in kind.fields if name in d}
