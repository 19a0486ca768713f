"""``s2s download-corpus``: fetch the corpus zip, check it, unpack it atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from components import cornell

OFFICIAL_URL = "http://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
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


def _fetch(url: str, target: Path, timeout: float) -> str:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:  # noqa: S310
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot download ({reason})") from None
    return digest.hexdigest()


def _unpack(archive: Path, into: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DownloadError(f"{archive.name}: not a zip archive") from None
    with zf:
        bad = zf.testzip()
        if bad is not None:
            raise DownloadError(f"{archive.name}: member {bad} is corrupt (CRC mismatch)")
        # The official zip holds "cornell movie-dialogs corpus/<file>" (and __MACOSX junk):
        # take the corpus files by base name, never writing outside `into`.
        members = {}
        for info in zf.infolist():
            name = Path(info.filename).name
            if name in CORPUS_FILES and "__MACOSX" not in info.filename and not info.is_dir():
                members.setdefault(name, info)
        missing = [n for n in REQUIRED if n not in members]
        if missing:
            raise DownloadError(f"{archive.name}: no {', '.join(missing)} in the archive")
        for name, info in members.items():
            with zf.open(info) as src, open(into / name, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)


def download_corpus(
    url: str = OFFICIAL_URL,
    dest: str | os.PathLike[str] = "data/cornell",
    sha256: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Downloads and unpacks the corpus into ``dest``; returns ``dest``.

    The archive's CRCs are checked, the two required files must be present and readable
    by the corpus loader, and ``dest`` only appears once everything passed.
    """
    dest = Path(dest).resolve()
    if (dest / cornell.LINES_FILE).is_file() and not force:
        cornell.check_corpus_dir(dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest.parent) as tmp:
        archive = Path(tmp) / "corpus.zip"
        digest = _fetch(url, archive, timeout)
        if sha256 and digest.lower() != sha256.lower():
            raise DownloadError(f"{url}: sha256 {digest} does not match the expected {sha256}")
        staging = Path(tmp) / "corpus"
        staging.mkdir()
        _unpack(archive, staging)
        cornell.load_corpus(staging)  # raises CorpusError, naming file and line, if unreadable
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest
