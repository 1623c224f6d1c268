"""kws.data.download over file:// URLs: checksums, safe and atomic extraction, skipping when done."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile

import pytest

from kws.data import download

FILES = {"yes/a.wav": b"RIFF-pretend-audio-a", "no/b.wav": b"RIFF-pretend-audio-b",
         "validation_list.txt": b"yes/a.wav\n"}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tarball(path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path.as_uri()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.fixture
def layout(tmp_path):
    """tmp_path/src holds archives, tmp_path/work/dataset is the destination; tmp_path/outside is a
    folder whose contents must never change."""
    for name in ("src", "work", "outside"):
        (tmp_path / name).mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("untouched")
    return tmp_path


def _assert_nothing_written(layout) -> None:
    assert sorted(os.listdir(layout / "work")) == []  # no dataset, no temp file, no staging dir
    assert sorted(os.listdir(layout / "outside")) == ["keep.txt"]
    assert (layout / "outside" / "keep.txt").read_text() == "untouched"
    assert not (layout / "evil").exists() and not (layout / "src" / "evil").exists()


def test_downloads_verifies_and_extracts_then_skips(layout):
    archive = layout / "src" / "data.tar.gz"
    url = _tarball(archive, [_file(n, d) for n, d in FILES.items()])
    dest = layout / "work" / "dataset"
    bar = io.StringIO()
    assert download.download_dataset(url, str(dest), sha256=_sha256(archive).upper(),
                                     stream=bar) == str(dest)
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert "download data.tar.gz" in bar.getvalue()
    assert sorted(os.listdir(layout / "work")) == ["dataset"]  # temp files are gone
    archive.unlink()  # a second call must not need the archive at all
    assert download.download_dataset(url, str(dest), sha256=None) == str(dest)
    with pytest.raises(download.DownloadError, match="already holds a dataset from"):
        download.download_dataset(url + "?v2", str(dest))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        del args


def test_http_download_from_a_local_server(layout):
    archive = layout / "src" / "data.tar.gz"
    _tarball(archive, [_file(n, d) for n, d in FILES.items()])
    handler = functools.partial(_QuietHandler, directory=str(layout / "src"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.tar.gz"
        dest = layout / "work" / "dataset"
        bar = io.StringIO()
        download.download_dataset(url, str(dest), sha256=_sha256(archive), stream=bar)
        assert (dest / "yes/a.wav").read_bytes() == FILES["yes/a.wav"]
        size = archive.stat().st_size
        assert f"{size}/{size}" in bar.getvalue()  # Content-Length drove the progress bar
        with pytest.raises(download.DownloadError, match="404"):
            download.download_dataset(url.replace("data", "nothing"),
                                      str(layout / "work" / "other"), stream=io.StringIO())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_zip_and_no_checksum(layout):
    archive = layout / "src" / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in FILES.items():
            z.writestr(name, data)
    dest = layout / "work" / "dataset"
    (dest).mkdir()  # an empty destination is fine
    download.download_dataset(archive.as_uri(), str(dest), stream=io.StringIO())
    assert (dest / "no/b.wav").read_bytes() == FILES["no/b.wav"]


def test_wrong_checksum_deletes_the_download(layout):
    archive = layout / "src" / "data.tgz"
    url = _tarball(archive, [_file(n, d) for n, d in FILES.items()])
    with pytest.raises(download.DownloadError, match="sha256 mismatch.*deleted"):
        download.download_dataset(url, str(layout / "work" / "dataset"), sha256="0" * 64,
                                  stream=io.StringIO())
    _assert_nothing_written(layout)


def test_refuses_a_destination_holding_something_else(layout):
    url = _tarball(layout / "src" / "data.tar.gz", [_file(n, d) for n, d in FILES.items()])
    dest = layout / "work" / "dataset"
    dest.mkdir()
    (dest / "mine.txt").write_text("precious")
    with pytest.raises(download.DownloadError, match="is not an earlier download"):
        download.download_dataset(url, str(dest), stream=io.StringIO())
    assert (dest / "mine.txt").read_text() == "precious"


def test_missing_url_and_non_archive(layout):
    with pytest.raises(download.DownloadError, match="failed"):
        download.download_dataset((layout / "src" / "nope.tar.gz").as_uri(),
                                  str(layout / "work" / "dataset"), stream=io.StringIO())
    text = layout / "src" / "notes.tar.gz"
    text.write_text("not an archive")
    with pytest.raises(download.DownloadError, match="not a tar or zip archive"):
        download.download_dataset(text.as_uri(), str(layout / "work" / "dataset"),
                                  stream=io.StringIO())
    _assert_nothing_written(layout)


def _device() -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo("dev/null")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, None


MALICIOUS = {
    "dotdot": lambda root: [_file("yes/ok.wav", b"ok"), _file("../evil", b"x")],
    "nested_dotdot": lambda root: [_file("yes/../../evil", b"x")],
    "absolute": lambda root: [_file(str(root / "outside" / "abs_evil"), b"x")],
    "symlink_out": lambda root: [_link("yes/link", "../../../outside")],
    "symlink_absolute": lambda root: [_link("link", str(root / "outside"))],
    "write_through_symlink": lambda root: [_link("sub", "yes"), _file("yes/x", b"x"),
                                           _file("sub/evil", b"x")],
    # Each link stays inside by itself; followed together they climb out (lexically
    # "d/e/x/../z" is inside, but x -> ../.. is the root, so the real path is ../z).
    "symlink_chain": lambda root: [_link("d/e/x", "../.."), _link("d/e/y", "x/../z")],
    "hardlink_out": lambda root: [_link("h", "../outside/keep.txt", tarfile.LNKTYPE)],
    "hardlink_absolute": lambda root: [_link("h", str(root / "outside" / "keep.txt"),
                                             tarfile.LNKTYPE)],
    "device": lambda root: [_device()],
    "duplicate": lambda root: [_file("a", b"1"), _link("a", "../outside")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_tarballs_are_refused_and_nothing_is_written(layout, case):
    url = _tarball(layout / "src" / "bad.tar.gz", MALICIOUS[case](layout))
    with pytest.raises(download.DownloadError, match="refusing to extract"):
        download.download_dataset(url, str(layout / "work" / "dataset"), stream=io.StringIO())
    _assert_nothing_written(layout)


def test_links_inside_the_dataset_are_kept(layout):
    url = _tarball(layout / "src" / "ok.tar.gz",
                   [_file("yes/a.wav", b"a"), _link("yes/alias.wav", "a.wav"),
                    _link("no/a.wav", "../yes/a.wav"), _link("hard.wav", "yes/a.wav",
                                                             tarfile.LNKTYPE)])
    dest = layout / "work" / "dataset"
    download.download_dataset(url, str(dest), stream=io.StringIO())
    assert (dest / "no/a.wav").read_bytes() == b"a" and os.path.islink(dest / "no/a.wav")
    assert (dest / "yes/alias.wav").read_bytes() == b"a"
    assert (dest / "hard.wav").read_bytes() == b"a"


@pytest.mark.parametrize("name", ["../evil", "/abs/evil"])
def test_malicious_zip_is_refused(layout, name):
    archive = layout / "src" / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ok.txt", b"ok")
        z.writestr(name, b"x")
    with pytest.raises(download.DownloadError, match="refusing to extract"):
        download.download_dataset(archive.as_uri(), str(layout / "work" / "dataset"),
                                  stream=io.StringIO())
    _assert_nothing_written(layout)
