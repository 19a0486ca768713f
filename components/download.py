"""``s2s download-corpus``: fetch the corpus zip, check it, unpack it atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from components import cornell

OFFICIAL_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
# The official zip's sha256, as pinned for the same URL by the DataDeps.jl registration of the
# corpus (it could not be fetched from here to check: no internet on the development machines).
OFFICIAL_SHA256 = "3bde8a571f615201bc2d2453e22878090719638592f774720eddec739de8c900"
MAX_DOWNLOAD_BYTES = 64 << 20  # the official zip is 9.5 MB
MAX_UNPACKED_BYTES = 128 << 20  # its corpus files are about 44 MB
CORPUS_FILES = (
    cornell.LINES_FILE,
    cornell.CONVERSATIONS_FILE,
    cornell.TITLES_FILE,
    "movie_characters_metadata.txt",
    "raw_script_urls.txt",
    "README.txt",
)
REQUIRED = (cornell.LINES_FILE, cornell.CONVERSATIONS_FILE)
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The corpus could not be fetched, or what was fetched is not the corpus."""


def _fetch(url: str, target: Path, timeout: float, limit: int) -> str:
    """Streams ``url`` to ``target``; refuses more than ``limit`` bytes or a short body."""
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:  # noqa: S310
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > limit:
                raise DownloadError(f"{url}: {expected:,} bytes declared, more than the limit of {limit:,}")
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise DownloadError(f"{url}: more than the limit of {limit:,} bytes")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        raise DownloadError(f"{url}: the connection closed after {len(exc.partial):,} bytes of the body") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot download ({reason})") from None
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: truncated download, {received:,} of the {expected:,} bytes declared")
    return digest.hexdigest()


def _hostile(name: str) -> bool:
    """A member name that would land outside the directory it is unpacked into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", name))


def _corpus_members(zf: zipfile.ZipFile, archive_name: str) -> dict[str, zipfile.ZipInfo]:
    """file name -> the archive's member of that corpus file; refuses two members of one name
    and a missing required file. The official zip holds "cornell movie-dialogs corpus/<file>"
    (and __MACOSX junk): the corpus files are taken by base name."""
    copies: dict[str, list[zipfile.ZipInfo]] = {}
    for info in zf.infolist():
        name = Path(info.filename).name
        if name in CORPUS_FILES and "__MACOSX" not in info.filename and not info.is_dir():
            copies.setdefault(name, []).append(info)
    ambiguous = {name: infos for name, infos in copies.items() if len(infos) > 1}
    if ambiguous:
        name, infos = next(iter(ambiguous.items()))
        raise DownloadError(
            f"{archive_name}: refused, {len(infos)} members named {name} ({', '.join(i.filename for i in infos[:3])}): "
            "which one is the corpus is ambiguous"
        )
    members = {name: infos[0] for name, infos in copies.items()}
    missing = [n for n in REQUIRED if n not in members]
    if missing:
        raise DownloadError(f"{archive_name}: no {', '.join(missing)} in the archive")
    return members


def _unpack(archive: Path, into: Path, limit: int) -> dict[str, str]:
    """Unpacks the corpus files of ``archive`` into ``into``; returns file name -> member name."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DownloadError(f"{archive.name}: not a zip archive") from None
    with zf:
        hostile = [info.filename for info in zf.infolist() if _hostile(info.filename)]
        if hostile:
            raise DownloadError(f"{archive.name}: refused, member names leave the directory: {', '.join(hostile[:3])}")
        bad = zf.testzip()
        if bad is not None:
            raise DownloadError(f"{archive.name}: member {bad} is corrupt (CRC mismatch)")
        members = _corpus_members(zf, archive.name)
        written = 0
        for name, info in members.items():
            with zf.open(info) as src, open(into / name, "wb") as dst:
                while chunk := src.read(_CHUNK):  # counted as written: a member's declared size can lie
                    written += len(chunk)
                    if written > limit:
                        raise DownloadError(f"{archive.name}: unpacks to more than the limit of {limit:,} bytes")
                    dst.write(chunk)
        return {name: info.filename for name, info in members.items()}


def download_corpus(
    url: str = OFFICIAL_URL,
    dest: str | os.PathLike[str] = "data/cornell",
    sha256: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
) -> Path:
    """Downloads and unpacks the corpus into ``dest``; returns ``dest``.

    Args:
        url: the zip (https by default); the official URL's sha256 is pinned.
        dest: the corpus directory. Created if absent; an existing non-empty directory is
            refused unless ``force``, and then only the corpus files in it are replaced:
            nothing this function did not create is ever deleted.
        sha256: the expected checksum (overrides the pinned one).
        timeout: network timeout in seconds.
        force: replace the corpus files of a non-empty ``dest``.
        max_download_bytes, max_unpacked_bytes: size limits of the zip and of what it unpacks to.

    Returns:
        ``dest``, once the archive's CRCs, the required files and the corpus loader all passed.

    Raises:
        DownloadError: the download or the archive was refused (the reason is in the message).
    """
    dest = Path(dest).resolve()
    if (dest / cornell.LINES_FILE).is_file() and not force:
        cornell.check_corpus_dir(dest)
        return dest
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise DownloadError(
            f"{dest}: not empty and holds no corpus; choose another --dest, or --force to add the corpus files to it"
        )
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest}: not a directory")
    expected = sha256 or (OFFICIAL_SHA256 if url == OFFICIAL_URL else None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest.parent) as tmp:
        archive = Path(tmp) / "corpus.zip"
        digest = _fetch(url, archive, timeout, max_download_bytes)
        if expected and digest.lower() != expected.lower():
            raise DownloadError(f"{url}: sha256 {digest} does not match the expected {expected}")
        staging = Path(tmp) / "corpus"
        staging.mkdir()
        members = _unpack(archive, staging, max_unpacked_bytes)
        try:
            cornell.load_corpus(staging)  # raises CorpusError, naming file and line, if unreadable
        except cornell.CorpusError as exc:  # named by the archive's member, not the staging path removed below
            message = str(exc)
            for name, member in members.items():
                message = message.replace(str(staging / name), f"{url} member {member!r}")
            raise DownloadError(message.replace(str(staging), f"{url} (unpacked)")) from None
        if not dest.exists():
            staging.rename(dest)
        else:  # only the corpus files are replaced, each in one step
            for path in staging.iterdir():
                os.replace(path, dest / path.name)
    return dest
