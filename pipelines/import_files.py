"""A tenant's import folder: where it is, its files, and opening one of them safely.

Each tenant reads only ``<import root>/<tenant>/``. The import root and the tenant's folder in
it belong to the operator (they may be links, say to another disk); everything under the
tenant's folder is the tenant's, who may swap a file or a folder for a link (or a FIFO) at any
moment, so nothing under it is trusted between the listing and the reading:

- paths are kept relative to the tenant's folder (answers never show the server's paths);
- a file is opened once, by walking its path from the tenant's folder one component at a time,
  each opened relative to its parent's descriptor with ``O_NOFOLLOW`` (a folder or the file
  swapped for a link fails to open), the file itself with ``O_NONBLOCK`` (a FIFO does not wait
  for a writer); the opened descriptor must be a regular file (``fstat``), and everything is
  read from it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from core.errors import CorruptDocument, NotRegularFile, PathNotAllowed

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def tenant_folder(import_root: Path, tenant: str) -> Path:
    """``<import root>/<tenant>``, resolved; PathNotAllowed when the tenant's name is not one
    plain folder name (tenants may be named with any 1-64 characters)."""
    if tenant in ("", ".", "..") or "/" in tenant or "\x00" in tenant:
        raise PathNotAllowed(f"the tenant name {tenant!r} cannot name a folder: no folder batches")
    return (import_root.resolve() / tenant).resolve()


def folder_inside(root: Path, requested: str) -> PurePosixPath:
    """``requested`` (a path relative to ``root``) resolved, as a path relative to ``root``
    ("." for ``root`` itself); PathNotAllowed for an absolute path or one that leads out of
    ``root`` (``..``, a link), whether or not it exists. OSError when it cannot be resolved."""
    if PurePosixPath(requested).is_absolute():
        raise PathNotAllowed("give a path relative to your import folder, not an absolute one")
    folder = (root / requested).resolve()
    if not folder.is_relative_to(root):
        raise PathNotAllowed("the path leads out of your import folder")
    return PurePosixPath(folder.relative_to(root).as_posix())


def files_inside(folder: Path) -> tuple[list[PurePosixPath], list[PurePosixPath]]:
    """The files under ``folder``, sorted, as paths relative to it; and the links under it that
    point out of it (or nowhere), which are not read.

    Folder links are not followed; a file link counts only where its target is inside
    ``folder``, and then as its target's path (one to /etc/hostname or to a neighbouring
    folder is refused). A FIFO, socket or device is listed too: ``open_inside`` refuses it with
    its reason. Only names come from here; ``open_inside`` makes reading them safe.
    """
    folder = folder.resolve()
    kept: set[PurePosixPath] = set()
    refused: list[PurePosixPath] = []
    for top, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(top) / name
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a dangling link, a loop of links
                refused.append(_relative(path, folder))
                continue
            if not real.is_relative_to(folder):
                refused.append(_relative(path, folder))
            elif not real.is_dir():
                kept.add(_relative(real, folder))
    return sorted(kept), sorted(refused)


def _relative(path: Path, folder: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(folder).as_posix())


def open_inside(root: Path, relative: PurePosixPath) -> BinaryIO:
    """The regular file at ``relative`` under ``root``, opened for binary reading without
    following any link below ``root``.

    Raises PathNotAllowed when a component is a link (or ``..``), NotRegularFile for a FIFO,
    socket or device (opened without blocking, never read), CorruptDocument when it is gone or
    cannot be opened.
    """
    parts = relative.parts
    if not parts or relative.is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise PathNotAllowed(f"not a path inside the folder: {relative}")
    # one descriptor per folder, each opened from its parent's with O_NOFOLLOW: a folder
    # swapped for a link between the listing and now fails here (ELOOP), where resolving the
    # path and then opening it by name would leave a window to swap it in between
    fd = -1
    try:
        fd = os.open(root, _DIR_FLAGS)
        for part in parts[:-1]:
            parent, fd = fd, -1
            try:
                fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
            finally:
                os.close(parent)
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _open_error(exc, relative) from exc
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        mode = os.fstat(file_fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
            raise NotRegularFile(f"{relative} is {kind}, not a regular file: not read")
        # O_NONBLOCK was for opening; reads of a regular file never wait on it anyway
        os.set_blocking(file_fd, True)
        return os.fdopen(file_fd, "rb")
    except BaseException:
        os.close(file_fd)
        raise


def _open_error(exc: OSError, relative: PurePosixPath) -> Exception:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        # O_NOFOLLOW met a link (ELOOP), or a folder on the path is no longer a folder
        return PathNotAllowed(
            f"{relative}: the file or a folder on its path is a link (replaced since it was"
            " listed?): not read"
        )
    if exc.errno == errno.ENOENT:
        return CorruptDocument(f"{relative} is gone (removed since it was listed)")
    return CorruptDocument(f"cannot open {relative}: {exc.strerror or exc}")
