"""`s2s download-corpus` against a local HTTP server serving small zip fixtures (no internet here)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from components.cornell import load_corpus
from components.download import DownloadError, download_corpus
from s2s import cli


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _official_like_zip(path, corpus_dir, skip=()):
    """The official zip's layout: files in "cornell movie-dialogs corpus/", plus macOS junk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(corpus_dir.iterdir()):
            if f.name not in skip:
                zf.write(f, f"cornell movie-dialogs corpus/{f.name}")
        zf.writestr("__MACOSX/cornell movie-dialogs corpus/._movie_lines.txt", b"\x00junk")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_checks_and_unpacks(server, tiny_corpus, tmp_path):
    root, url = server
    digest = _official_like_zip(root / "corpus.zip", tiny_corpus)
    dest = download_corpus(f"{url}/corpus.zip", tmp_path / "data" / "cornell", sha256=digest)
    assert (dest / "movie_lines.txt").read_bytes() == (tiny_corpus / "movie_lines.txt").read_bytes()
    assert load_corpus(dest)[0] == load_corpus(tiny_corpus)[0]
    assert not list(dest.parent.glob(".download-*"))  # no staging left behind


def test_cli_download_then_existing_corpus_is_kept(server, tiny_corpus, tmp_path, capsys):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    dest = tmp_path / "cornell"
    assert cli.main(["download-corpus", "--url", f"{url}/corpus.zip", "--dest", str(dest)]) == 0
    assert "corpus ready" in capsys.readouterr().out
    (root / "corpus.zip").unlink()  # a second call does not fetch again
    assert cli.main(["download-corpus", "--url", f"{url}/corpus.zip", "--dest", str(dest)]) == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root, corpus: (root / "corpus.zip").write_bytes(b"<html>not a zip</html>"), "not a zip archive"),
        (
            lambda root, corpus: _official_like_zip(root / "corpus.zip", corpus, skip=("movie_lines.txt",)),
            "no movie_lines.txt in the archive",
        ),
        (lambda root, corpus: None, "HTTP 404"),
    ],
)
def test_bad_downloads_are_rejected(server, tiny_corpus, tmp_path, make, message):
    root, url = server
    make(root, tiny_corpus)
    with pytest.raises(DownloadError, match=message):
        download_corpus(f"{url}/corpus.zip", tmp_path / "cornell")
    assert not (tmp_path / "cornell").exists()


def test_checksum_mismatch_is_rejected(server, tiny_corpus, tmp_path):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    with pytest.raises(DownloadError, match="does not match the expected"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "cornell", sha256="0" * 64)
    assert not (tmp_path / "cornell").exists()


def test_unreachable_host_is_a_clear_error(tmp_path, capsys):
    code = cli.main(
        ["download-corpus", "--url", "http://127.0.0.1:9/corpus.zip", "--dest", str(tmp_path / "c"), "--timeout", "5"]
    )
    assert code == 2
    assert "s2s: error: http://127.0.0.1:9/corpus.zip: cannot download" in capsys.readouterr().err
