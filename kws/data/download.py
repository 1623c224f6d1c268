"""Downloads a dataset archive (.tar.gz/.tgz/.tar/.zip), checks it and extracts it safely.

* The archive goes to a temporary file next to ``dest_dir`` with a progress bar; with ``sha256``
  a mismatch removes it and raises.
* Every member is checked before anything is written: absolute names, ``..`` components, links
  whose target resolves outside the folder (following the archive's own links), hard links to
  anything but a regular file in the archive, members under a link, device files and duplicate
  names refuse the whole archive. tarfile's ``filter="data"`` then guards the extraction again.
* Extraction goes to a temporary folder beside ``dest_dir``, which is renamed into place at the end,
  so ``dest_dir`` is either complete or absent. A marker file in it records the URL and checksum;
  a second call with the same URL returns at once.

``file://`` URLs work too (that is how the tests run it, without network).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import TextIO

from absl import logging

from kws import progress
from kws.errors import UserError

MARKER_NAME = ".kws_download.json"
"""File inside ``dest_dir`` that says the extraction finished, and from which URL."""

_CHUNK_BYTES = 1 << 20
_TIMEOUT_S = 60  # per blocking network operation, not for the whole download
_MAX_LINK_HOPS = 40


class DownloadError(UserError):
    """The download failed, its checksum is wrong, or the archive is unsafe or unreadable."""


def _fetch(url: str, path: str, stream: TextIO | None) -> str:
    """Writes ``url`` to ``path``; returns the sha256 hex digest of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(path, "wb") as out:
            total_bytes = int(response.headers.get("Content-Length") or 0)
            bar = progress.Progress(total_bytes, label=f"download {posixpath.basename(url)} (bytes)",
                                    stream=stream)
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            bar.close()
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"downloading {url} failed: {e}") from e
    return digest.hexdigest()


def _clean_name(name: str, archive: str) -> str:
    """A member name as a relative POSIX path, or DownloadError if it is absolute or climbs out."""
    unsafe = (name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")
              or ".." in name.replace("\\", "/").split("/"))
    cleaned = posixpath.normpath(name.replace("\\", "/"))
    if unsafe or cleaned.startswith("../") or cleaned == "..":
        raise DownloadError(f"{archive}: unsafe member {name!r} (absolute path or '..'); "
                            "refusing to extract anything from this archive")
    return "" if cleaned == "." else cleaned


def _resolve(path: str, links: dict[str, str], archive: str, member: str) -> str:
    """Resolves ``path`` (relative to the extraction root) through the archive's own symlinks.

    Raises DownloadError as soon as the path leaves the root, however many links it goes through.
    """
    parts: list[str] = []
    pending = [p for p in path.split("/") if p not in ("", ".")]
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not parts:
                raise DownloadError(f"{archive}: link {member!r} points outside the dataset folder; "
                                    "refusing to extract anything from this archive")
            parts.pop()
            continue
        current = "/".join(parts + [part])
        if current in links:
            hops += 1
            target = links[current]
            if hops > _MAX_LINK_HOPS or target.startswith("/"):
                raise DownloadError(f"{archive}: link {member!r} is absolute, circular or too deep; "
                                    "refusing to extract anything from this archive")
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
        else:
            parts.append(part)
    return "/".join(parts)


def _check_tar(tar: tarfile.TarFile, archive: str) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    names = [_clean_name(m.name, archive) for m in members]
    links = {n: m.linkname for n, m in zip(names, members) if m.issym()}
    files = {n for n, m in zip(names, members) if m.isreg()}
    seen: dict[str, tarfile.TarInfo] = {}
    for name, member in zip(names, members):
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise DownloadError(f"{archive}: member {member.name!r} is a device, pipe or other "
                                "special file; refusing to extract anything from this archive")
        if name in seen and not (member.isdir() and seen[name].isdir()):
            raise DownloadError(f"{archive}: member {member.name!r} appears twice; refusing to "
                                "extract anything from this archive")
        seen[name] = member
        parent = posixpath.dirname(name)
        while parent:
            if parent in links:
                raise DownloadError(f"{archive}: member {member.name!r} lies under the link "
                                    f"{parent!r}; refusing to extract anything from this archive")
            parent = posixpath.dirname(parent)
        if not name and not member.isdir():
            raise DownloadError(f"{archive}: member {member.name!r} has no name; refusing to "
                                "extract anything from this archive")
        if member.issym():
            if member.linkname.startswith(("/", "\\")) or member.linkname[1:2] == ":":
                raise DownloadError(f"{archive}: link {member.name!r} -> {member.linkname!r} is "
                                    "absolute; refusing to extract anything from this archive")
            _resolve(posixpath.join(posixpath.dirname(name), member.linkname), links, archive,
                     member.name)
        elif member.islnk() and _clean_name(member.linkname, archive) not in files:
            raise DownloadError(f"{archive}: hard link {member.name!r} -> {member.linkname!r} does "
                                "not point to a regular file in the archive; refusing to extract")
    return members


def _check_zip(archive_zip: zipfile.ZipFile, archive: str) -> None:
    for info in archive_zip.infolist():
        _clean_name(info.filename, archive)


def _extract(archive: str, folder: str) -> None:
    """Extracts ``archive`` (tar of any compression, or zip) into the empty ``folder``."""
    if tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as tar:
                members = _check_tar(tar, archive)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(folder, members=members, filter="data")
                else:
                    logging.warning("this Python's tarfile has no filter='data'; relying on kws's "
                                    "own member checks only")
                    tar.extractall(folder, members=members)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DownloadError(f"{archive}: extraction failed: {e}") from e
    elif zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as archive_zip:
                _check_zip(archive_zip, archive)
                archive_zip.extractall(folder)
        except (zipfile.BadZipFile, OSError) as e:
            raise DownloadError(f"{archive}: extraction failed: {e}") from e
    else:
        raise DownloadError(f"{archive}: not a tar or zip archive")


def _read_marker(dest_dir: str) -> dict[str, str] | None:
    try:
        with open(os.path.join(dest_dir, MARKER_NAME), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def download_dataset(url: str, dest_dir: str, sha256: str | None = None, *,
                     stream: TextIO | None = None) -> str:
    """Downloads the archive at ``url`` and extracts it into ``dest_dir``.

    Args:
      url: http(s):// or file:// URL of a .tar.gz, .tgz, .tar(.bz2/.xz) or .zip archive.
      dest_dir: folder that will hold the archive's contents; must not exist yet, be empty, or hold a
        previous complete extraction of the same URL (then nothing is done).
      sha256: expected hex digest of the archive; None skips the check (logged).
      stream: where the progress bar goes (stderr by default).

    Returns:
      ``dest_dir``.

    Raises:
      DownloadError: network or file error, checksum mismatch (the download is deleted), unsafe or
        unreadable archive, or ``dest_dir`` already holding something else.
    """
    marker = _read_marker(dest_dir) if os.path.isdir(dest_dir) else None
    if marker is not None:
        if marker.get("url") != url:
            raise DownloadError(f"{dest_dir} already holds a dataset from {marker.get('url')}; "
                                "delete it or choose another destination")
        logging.info("%s already holds %s; not downloading again", dest_dir, url)
        return dest_dir
    if os.path.exists(dest_dir) and (not os.path.isdir(dest_dir) or os.listdir(dest_dir)):
        raise DownloadError(f"{dest_dir} exists and is not an earlier download (no {MARKER_NAME}); "
                            "delete it or choose another destination")
    parent = os.path.dirname(os.path.abspath(dest_dir))
    os.makedirs(parent, exist_ok=True)
    fd, archive = tempfile.mkstemp(dir=parent, prefix=".kws-download-", suffix=".part")
    os.close(fd)
    staging = None
    try:
        digest = _fetch(url, archive, stream)
        if sha256 is None:
            logging.warning("no sha256 given for %s; its sha256 is %s", url, digest)
        elif digest != sha256.lower():
            raise DownloadError(f"{url}: sha256 mismatch: expected {sha256.lower()}, got {digest}; "
                                "the download was deleted. Check the URL and the checksum")
        staging = tempfile.mkdtemp(dir=parent, prefix=".kws-extract-")
        _extract(archive, staging)
        with open(os.path.join(staging, MARKER_NAME), "w", encoding="utf-8") as f:
            json.dump({"url": url, "sha256": digest}, f)
        if os.path.isdir(dest_dir):
            os.rmdir(dest_dir)  # empty, checked above
        os.rename(staging, dest_dir)
        staging = None
    finally:
        os.unlink(archive)
        if staging is not None:
            shutil.rmtree(staging)
    logging.info("extracted %s into %s", url, dest_dir)
    return dest_dir
