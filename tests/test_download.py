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


def test_a_non_empty_dest_is_refused_and_never_deleted(server, tiny_corpus, tmp_path, capsys):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    dest = tmp_path / "project"
    dest.mkdir()
    (dest / "keep.me").write_text("the user's own file")
    code = cli.main(["download-corpus", "--url", f"{url}/corpus.zip", "--dest", str(dest)])
    assert code == 2 and "not empty and holds no corpus" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["keep.me"]
    # --force adds the corpus files and replaces nothing else.
    assert cli.main(["download-corpus", "--url", f"{url}/corpus.zip", "--dest", str(dest), "--force"]) == 0
    assert (dest / "keep.me").read_text() == "the user's own file" and (dest / "movie_lines.txt").is_file()


def test_size_limits_refuse_large_downloads_and_archives(server, tiny_corpus, tmp_path):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    size = (root / "corpus.zip").stat().st_size
    with pytest.raises(DownloadError, match="more than the limit"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "a", max_download_bytes=size - 1)
    with pytest.raises(DownloadError, match="unpacks to more than the limit"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "b", max_unpacked_bytes=100)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_body_shorter_than_its_content_length_is_refused(tmp_path):
    class Short(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"PK\x03\x04 a few bytes")
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DownloadError, match="closed after|truncated"):
            download_corpus(f"http://127.0.0.1:{httpd.server_address[1]}/corpus.zip", tmp_path / "c", timeout=10)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not (tmp_path / "c").exists()


def _serve(handler):
    """A one-handler HTTP server on a free port: (url, stop)."""
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def stop():
        httpd.shutdown()
        httpd.server_close()

    return f"http://127.0.0.1:{httpd.server_address[1]}/corpus.zip", stop


def test_a_body_without_content_length_is_capped_while_it_streams(tmp_path):
    # No Content-Length (HTTP/1.0, the body ends when the connection closes): only the count of
    # bytes received can stop a server that sends without end.
    sent = []

    class Endless(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(64):  # 64 MiB at most, far past the limit below
                    self.wfile.write(b"\0" * (1 << 20))
                    sent.append(1)
            except OSError:  # the client hung up, as it should
                pass

    url, stop = _serve(Endless)
    try:
        with pytest.raises(DownloadError, match="more than the limit of 3,145,728 bytes"):
            download_corpus(url, tmp_path / "c", timeout=10, max_download_bytes=3 << 20)
    finally:
        stop()
    assert len(sent) < 64  # the client stopped reading long before the end
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".download-*"))


def test_an_archive_with_a_corrupt_member_is_refused(server, tiny_corpus, tmp_path):
    root, url = server
    archive = root / "corpus.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # stored: the member's bytes are in the file as is
        for f in sorted(tiny_corpus.iterdir()):
            zf.write(f, f"cornell movie-dialogs corpus/{f.name}")
    data = bytearray(archive.read_bytes())
    line = (tiny_corpus / "movie_lines.txt").read_bytes().splitlines()[0]
    at = data.index(line)
    data[at : at + len(line)] = line.swapcase()  # same size, other bytes: only the CRC can tell
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="member cornell movie-dialogs corpus/movie_lines.txt is corrupt"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "cornell")
    assert not (tmp_path / "cornell").exists()


# Windows-style names (backslash separators, drive letters) are harmless on POSIX but a path
# traversal where the zip is unpacked by other tools on Windows: refused everywhere.
@pytest.mark.parametrize(
    "hostile",
    ["../movie_lines.txt", "/tmp/movie_lines.txt", "cornell/../../movie_lines.txt"]
    + ["..\\movie_lines.txt", "C:/Windows/movie_lines.txt", "c:movie_lines.txt"],
)
def test_archives_with_member_names_that_leave_the_directory_are_refused(server, tiny_corpus, tmp_path, hostile):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    with zipfile.ZipFile(root / "corpus.zip", "a") as zf:
        zf.writestr(hostile, b"L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ pwned\n")
    with pytest.raises(DownloadError, match="member names leave the directory"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "deep" / "cornell")
    assert not (tmp_path / "deep" / "cornell").exists() and not (tmp_path / "deep" / "movie_lines.txt").exists()


def test_the_default_url_is_https_with_its_checksum_pinned(monkeypatch, tiny_corpus, tmp_path):
    from components import download

    assert download.OFFICIAL_URL.startswith("https://") and len(download.OFFICIAL_SHA256) == 64

    def fetch(url, target, timeout, limit):  # no internet here: a zip that is not the official one
        return _official_like_zip(target, tiny_corpus)

    monkeypatch.setattr(download, "_fetch", fetch)
    with pytest.raises(DownloadError, match=f"does not match the expected {download.OFFICIAL_SHA256}"):
        download_corpus(dest=tmp_path / "c")
    digest = _official_like_zip(tmp_path / "same.zip", tiny_corpus)
    assert download_corpus(dest=tmp_path / "c", sha256=digest) == (tmp_path / "c").resolve()  # --sha256 overrides


def test_the_refusal_names_the_first_three_offending_members(server, tiny_corpus, tmp_path):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus, skip=("movie_lines.txt", "movie_conversations.txt"))
    with pytest.raises(DownloadError) as err:
        download_corpus(f"{url}/corpus.zip", tmp_path / "a")
    assert str(err.value) == "corpus.zip: no movie_lines.txt, movie_conversations.txt in the archive"
    with zipfile.ZipFile(root / "corpus.zip", "a") as zf:
        for name in ("../a", "../b", "../c", "../d"):
            zf.writestr(name, b"x")
    with pytest.raises(DownloadError) as err:
        download_corpus(f"{url}/corpus.zip", tmp_path / "b")
    assert str(err.value) == "corpus.zip: refused, member names leave the directory: ../a, ../b, ../c"


def test_sizes_exactly_at_the_limits_are_accepted_and_the_unpacked_limit_counts_every_member(server, tiny_corpus, tmp_path):
    root, url = server
    _official_like_zip(root / "corpus.zip", tiny_corpus)
    size = (root / "corpus.zip").stat().st_size
    unpacked = sum(f.stat().st_size for f in tiny_corpus.iterdir())
    biggest = max(f.stat().st_size for f in tiny_corpus.iterdir())
    dest = download_corpus(f"{url}/corpus.zip", tmp_path / "a", max_download_bytes=size, max_unpacked_bytes=unpacked)
    assert (dest / "movie_lines.txt").is_file()
    # More than any one member but less than all of them together: refused.
    with pytest.raises(DownloadError, match="unpacks to more than the limit"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "b", max_unpacked_bytes=(biggest + unpacked) // 2)
    with pytest.raises(DownloadError, match="unpacks to more than the limit"):
        download_corpus(f"{url}/corpus.zip", tmp_path / "c", max_unpacked_bytes=unpacked - 1)


def test_macos_junk_listed_before_the_real_files_is_ignored(server, tiny_corpus, tmp_path):
    root, url = server
    with zipfile.ZipFile(root / "corpus.zip", "w") as zf:
        for f in sorted(tiny_corpus.iterdir()):  # the junk first, under the real files' names
            zf.writestr(f"__MACOSX/cornell movie-dialogs corpus/{f.name}", b"\x00junk")
            zf.writestr(f"__MACOSX/{f.name}", b"\x00junk")
        zf.writestr("cornell movie-dialogs corpus/", b"")  # a directory entry
        for f in sorted(tiny_corpus.iterdir()):
            zf.write(f, f"cornell movie-dialogs corpus/{f.name}")
    dest = download_corpus(f"{url}/corpus.zip", tmp_path / "cornell")
    for f in tiny_corpus.iterdir():
        assert (dest / f.name).read_bytes() == f.read_bytes()


def test_the_download_is_staged_beside_its_destination(tiny_corpus, tmp_path):
    # Same file system as the destination, so that the final rename is one atomic step; created
    # however deep the destination is.
    payload = tmp_path / "payload.zip"
    _official_like_zip(payload, tiny_corpus)
    dest = tmp_path / "a" / "b" / "cornell"
    staged = []

    class Watching(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            staged.extend(p.name for p in dest.parent.glob(".download-*"))
            body = payload.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    url, stop = _serve(Watching)
    try:
        assert download_corpus(url, dest) == dest.resolve()
    finally:
        stop()
    assert len(staged) == 1 and not list(dest.parent.glob(".download-*"))


def test_errors_say_why(tmp_path, capsys):
    code = cli.main(
        ["download-corpus", "--url", "http://127.0.0.1:9/corpus.zip", "--dest", str(tmp_path / "c"), "--timeout", "5"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot download ([Errno 111] Connection refused)" in err, err  # the reason, not just "failed"
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DownloadError) as err:
        download_corpus("http://127.0.0.1:9/corpus.zip", tmp_path / "file", force=True)
    assert str(err.value) == f"{(tmp_path / 'file').resolve()}: not a directory"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    with pytest.raises(DownloadError, match="not empty and holds no corpus"):
        download_corpus("http://127.0.0.1:9/corpus.zip", tmp_path / "full")  # force is off by default


def test_two_members_of_the_same_name_are_refused_as_ambiguous(server, tiny_corpus, tmp_path):
    root, url = server
    with zipfile.ZipFile(root / "corpus.zip", "w") as zf:
        for f in sorted(tiny_corpus.iterdir()):
            zf.write(f, f"cornell movie-dialogs corpus/{f.name}")
        zf.writestr("old/movie_lines.txt", b"L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ stale\n")
    with pytest.raises(DownloadError) as err:
        download_corpus(f"{url}/corpus.zip", tmp_path / "cornell")
    assert "2 members named movie_lines.txt" in str(err.value)
    assert "cornell movie-dialogs corpus/movie_lines.txt, old/movie_lines.txt" in str(err.value)
    assert not (tmp_path / "cornell").exists()


def test_an_unreadable_corpus_file_is_named_by_its_archive_member(server, tiny_corpus, tmp_path):
    root, url = server
    with zipfile.ZipFile(root / "corpus.zip", "w") as zf:
        for f in sorted(tiny_corpus.iterdir()):
            data = b"\xff\xfe not the corpus \x00\x01" * 50 if f.name == "movie_lines.txt" else f.read_bytes()
            zf.writestr(f"cornell movie-dialogs corpus/{f.name}", data)
    with pytest.raises(DownloadError) as err:
        download_corpus(f"{url}/corpus.zip", tmp_path / "cornell")
    message = str(err.value)
    assert f"{url}/corpus.zip member 'cornell movie-dialogs corpus/movie_lines.txt'" in message, message
    assert ".download-" not in message  # never the staging directory, removed by then
