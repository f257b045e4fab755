"""Fetching a Debian package securely from the apt source configured on this machine.

apt's own chain of trust, without apt (apt on an amd64 host will not fetch arm64 packages
unless the architecture is added to dpkg): the signed ``InRelease`` is checked with ``gpgv``
against the source's keyring and only gpgv's verified output is read; it gives the SHA256 of
``Packages.xz``; the Packages index gives the SHA256 of the ``.deb``. Any mismatch stops with
one line naming the URL. Verified .deb files are cached by their SHA256.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from kmodkit.errors import KernelTreeError
from kmodkit.fsutil import atomic_write_bytes

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
TIMEOUT = 60
Stanza = dict[str, str]


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` line: an archive URI, a suite and its components, and the trusted keyring."""

    uri: str
    suite: str
    components: tuple[str, ...]
    keyring: Path = DEBIAN_KEYRING

    def url(self, path: str) -> str:
        return f"{self.uri.rstrip('/')}/{path.lstrip('/')}"


def _deb822_sources(text: str) -> Iterator[AptSource]:
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        keyring = Path(fields.get("signed-by", str(DEBIAN_KEYRING)))
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                comps = tuple(fields.get("components", "main").split())
                yield AptSource(uri, suite, comps, keyring)


def _one_line_sources(text: str) -> Iterator[AptSource]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        opts = dict(o.split("=", 1) for o in (match.group("opts") or "").split() if "=" in o)
        keyring = Path(opts.get("signed-by", str(DEBIAN_KEYRING)))
        comps = tuple(match.group(4).split()) or ("main",)
        yield AptSource(match.group(2), match.group(3), comps, keyring)


def debian_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """The configured sources signed by the Debian archive keyring (other vendors left out)."""
    found: list[AptSource] = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            found += _deb822_sources(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            found += _one_line_sources(text)
    return [s for s in found if s.keyring.name.startswith("debian-archive")]


def parse_stanzas(text: str) -> Iterator[Stanza]:
    """RFC822-style paragraphs (Packages, Release); continuation lines are kept joined."""
    for block in text.split("\n\n"):
        fields: Stanza = {}
        last = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if fields:
            yield fields


def release_hashes(release_text: str) -> dict[str, tuple[str, int]]:
    """``SHA256`` section of a Release file: index path -> (sha256, size)."""
    release = next(parse_stanzas(release_text), {})
    out: dict[str, tuple[str, int]] = {}
    for line in release.get("SHA256", "").splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[2]] = (parts[0], int(parts[1]))
    return out


class DebianArchive:
    """Verified Packages indexes and .deb downloads from a list of apt sources."""

    def __init__(
        self,
        sources: list[AptSource],
        cache: Path,
        session: requests.Session | None = None,
    ) -> None:
        if not sources:
            raise KernelTreeError(
                "no Debian apt source configured (/etc/apt/sources.list*): cannot fetch packages"
            )
        self.sources = sources
        self.cache = cache
        self.session = session or requests.Session()

    def _get(self, url: str) -> bytes:
        try:
            response = self.session.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise KernelTreeError(f"cannot download: {exc.__class__.__name__}", where=url) from None
        if response.status_code != 200:
            raise KernelTreeError(f"download failed: HTTP {response.status_code}", where=url)
        return response.content

    def verified_release(self, source: AptSource) -> str:
        """The InRelease content as gpgv verified it against the source's keyring."""
        url = source.url(f"dists/{source.suite}/InRelease")
        signed = self._get(url)
        if shutil.which("gpgv") is None:
            raise KernelTreeError("gpgv not found: install gpgv to check Debian signatures")
        if not source.keyring.is_file():
            raise KernelTreeError(
                "keyring missing (install debian-archive-keyring)", where=str(source.keyring)
            )
        with tempfile.TemporaryDirectory(prefix="kmodkit-gpgv-") as tmp:
            path = Path(tmp) / "InRelease"
            path.write_bytes(signed)
            result = subprocess.run(
                ["gpgv", "--keyring", str(source.keyring), "--output", "-", str(path)],
                capture_output=True,
                check=False,
            )
        if result.returncode != 0:
            why = (result.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            raise KernelTreeError(f"InRelease signature is not valid: {why}", where=url)
        return result.stdout.decode("utf-8", "replace")

    def packages(self, arch: str) -> Iterator[tuple[AptSource, Stanza]]:
        """Every package of ``binary-<arch>`` in every source and component (verified)."""
        for source in self.sources:
            hashes = release_hashes(self.verified_release(source))
            for component in source.components:
                index = f"{component}/binary-{arch}/Packages.xz"
                if index not in hashes:
                    continue
                sha, size = hashes[index]
                url = source.url(f"dists/{source.suite}/{index}")
                data = self._get(url)
                if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                    raise KernelTreeError(
                        "Packages.xz does not match the signed InRelease", where=url
                    )
                try:
                    text = lzma.decompress(data).decode("utf-8", "replace")
                except lzma.LZMAError as exc:
                    raise KernelTreeError(
                        f"Packages.xz does not decompress: {exc}", where=url
                    ) from None
                for stanza in parse_stanzas(text):
                    yield source, stanza

    def download(self, source: AptSource, stanza: Stanza) -> Path:
        """The .deb of a Packages stanza, checked against its SHA256 (cached by that hash)."""
        sha = stanza.get("SHA256", "")
        filename = stanza.get("Filename", "")
        if not re.fullmatch(r"[0-9a-f]{64}", sha) or not filename or ".." in filename:
            name = stanza.get("Package")
            raise KernelTreeError(f"Packages entry of {name} lacks SHA256/Filename")
        dest = self.cache / "debs" / sha / Path(filename).name
        if dest.is_file():
            return dest
        url = source.url(filename)
        data = self._get(url)
        if hashlib.sha256(data).hexdigest() != sha:
            raise KernelTreeError("the .deb does not match its SHA256 in Packages", where=url)
        atomic_write_bytes(dest, data)
        return dest


def ar_members(data: bytes, where: str) -> dict[str, bytes]:
    """Members of a Unix ``ar`` archive (a .deb is one): name -> bytes."""
    if not data.startswith(b"!<arch>\n"):
        raise KernelTreeError("not a Debian package (no ar magic)", where=where)
    members: dict[str, bytes] = {}
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise KernelTreeError(f"bad ar member header at byte {offset}", where=where) from None
        start = offset + 60
        members[name] = data[start : start + size]
        offset = start + size + (size & 1)
    return members


def deb_files(deb: Path, wanted: dict[str, Path]) -> None:
    """Extract data.tar members (``./usr/src/...``) of a .deb to the given destinations."""
    members = ar_members(deb.read_bytes(), str(deb))
    data_name = next((n for n in members if n.startswith("data.tar")), None)
    if data_name is None:
        raise KernelTreeError("no data.tar member in the .deb", where=str(deb))
    remaining = {name.removeprefix("./"): dest for name, dest in wanted.items()}
    with tarfile.open(fileobj=io.BytesIO(members[data_name]), mode="r:*") as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name in remaining and info.isfile():
                handle = tar.extractfile(info)
                assert handle is not None
                atomic_write_bytes(remaining.pop(name), handle.read())
    if remaining:
        raise KernelTreeError(f"{', '.join(sorted(remaining))} not in the .deb", where=str(deb))
