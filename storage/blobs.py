"""A content-addressed file store: originals and page images, named by their SHA-256.

A key is the lowercase hex SHA-256 of the content, optionally followed by a short extension
(``"<sha256>.png"``) so page images keep a type a browser or viewer understands. The file of key
``abcd…`` lives at ``root/ab/cd/abcd…``. Equal content gets the same key and is stored once.
Writes go to ``root/tmp`` first and are renamed into place, so a reader never sees half a file.

Sweeping (``sweep_temp``, ``stale_keys``, ``delete_if_stale``): temp files a request or task
left (killed, or failed before it moved them) and blobs nothing refers to are removed once they
are older than a grace period. A blob's modification time is its last write or adoption: storing
content already stored touches the file, so a blob just adopted by an upload whose row is not
committed yet is young and kept.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

KEY_PATTERN = re.compile(r"[0-9a-f]{64}(\.[a-z0-9]{1,8})?")
_SHARD = re.compile(r"[0-9a-f]{2}")
_SWEEPING = ".sweep-"  # a blob being removed, moved into tmp first (see delete_if_stale)
_COPY_BYTES = 1 << 20


def _check_suffix(suffix: str) -> str:
    if suffix and not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        raise ValueError(f"bad blob suffix {suffix!r}: use '' or a dot and 1-8 of [a-z0-9]")
    return suffix


class BlobStore:
    """Files under ``root``, addressed by the SHA-256 of their content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Where the blob ``key`` is (or would be) stored."""
        if not KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        """Whether the blob ``key`` is stored."""
        return self.path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        """The blob ``key`` opened for binary reading (raises FileNotFoundError when absent)."""
        return self.path(key).open("rb")

    def delete(self, key: str) -> None:
        """Remove the blob ``key``; absent blobs are ignored."""
        self.path(key).unlink(missing_ok=True)

    def put_file(self, source: Path | BinaryIO, suffix: str = "") -> str:
        """Store the file at ``source``, or an opened binary file from where it stands
        (streamed, never read whole), and return its key."""
        if not isinstance(source, str | os.PathLike):
            return self._put_stream(source, _check_suffix(suffix))
        with Path(source).open("rb") as src:
            return self._put_stream(src, _check_suffix(suffix))

    def put_bytes(self, data: bytes, suffix: str = "") -> str:
        """Store ``data`` and return its key."""
        return self._put_stream(io.BytesIO(data), _check_suffix(suffix))

    def temp_file(self) -> Path:
        """A new empty file in the store's own temp folder (same filesystem, so ``adopt`` is a
        rename): for writers that stream content in and hash it themselves."""
        fd, name = tempfile.mkstemp(dir=self._tmp)
        os.close(fd)
        return Path(name)

    def open_temp(self) -> tuple[Path, BinaryIO]:
        """``temp_file()`` already opened for writing (one open instead of two)."""
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            return Path(name), os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            Path(name).unlink(missing_ok=True)
            raise

    def adopt(self, tmp_path: Path, sha256: str, suffix: str = "") -> str:
        """Move a file from ``temp_file()`` (or ``open_temp()``) into the store under its
        (caller-computed) hash."""
        if tmp_path.parent != self._tmp:
            raise ValueError("adopt takes files made by temp_file() or open_temp() only")
        key = sha256 + _check_suffix(suffix)
        self.path(key)  # validates the key
        self._settle(tmp_path, key)
        return key

    def _put_stream(self, src: BinaryIO, suffix: str) -> str:
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp:
                while block := src.read(_COPY_BYTES):
                    digest.update(block)
                    tmp.write(block)
                tmp.flush()
                os.fsync(tmp.fileno())
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        key = digest.hexdigest() + suffix
        self._settle(tmp_path, key)
        return key

    def _settle(self, tmp_path: Path, key: str) -> None:
        target = self.path(key)
        try:
            os.utime(target)  # adopted again: young, so a sweep keeps it until its row commits
            tmp_path.unlink(missing_ok=True)
            return
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same content under the same name: a concurrent writer replacing it is harmless.
        os.replace(tmp_path, target)

    def sweep_temp(self, older_than: float) -> int:
        """Delete the temp files not written to (nor moved) since ``older_than`` (epoch
        seconds): what killed or failed writers left. Returns how many were deleted."""
        deleted = 0
        for entry in os.scandir(self._tmp):
            try:
                info = entry.stat(follow_symlinks=False)
                # a blob moved here to be swept keeps its old mtime: aged by its move
                moved = entry.name.startswith(_SWEEPING)
                written = info.st_ctime if moved else info.st_mtime
                if written < older_than and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    deleted += 1
            except FileNotFoundError:  # finished (moved into place) meanwhile
                continue
        return deleted

    def stale_keys(self, older_than: float) -> Iterator[str]:
        """The keys of the stored blobs last written or adopted before ``older_than`` (epoch
        seconds), shard by shard (never all in memory at once)."""
        for top in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not (_SHARD.fullmatch(top.name) and top.is_dir(follow_symlinks=False)):
                continue
            for sub in sorted(os.scandir(top.path), key=lambda e: e.name):
                if not (_SHARD.fullmatch(sub.name) and sub.is_dir(follow_symlinks=False)):
                    continue
                for entry in os.scandir(sub.path):
                    if not KEY_PATTERN.fullmatch(entry.name):
                        continue
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < older_than:
                            yield entry.name
                    except FileNotFoundError:
                        continue

    def delete_if_stale(self, key: str, older_than: float) -> bool:
        """Delete the blob ``key`` unless it was written or adopted since ``older_than``;
        True when it was deleted. The caller checked that nothing refers to it.

        The blob is first moved aside (an adopter arriving after that writes a new copy),
        then checked once more: one touched by an adopter just before the move is put back.
        """
        target = self.path(key)
        aside = self._tmp / f"{_SWEEPING}{key}-{uuid.uuid4().hex[:8]}"
        try:
            if target.stat().st_mtime >= older_than:
                return False
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= older_than:
            os.replace(aside, target)  # same content as any copy written there meanwhile
            return False
        aside.unlink()
        return True
