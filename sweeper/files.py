"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def _umask() -> int:
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it.

    The file gets the mode a plain ``open(path, "w")`` would give it (``0o666`` less the
    umask), not the temporary file's private ``0o600``: an exported JSON or a report is read by
    other users and containers.

    A symbolic link is followed (the file it names is replaced, the link stays); a folder, a
    device or a pipe, or an existing file without write permission, is refused with an
    ``OSError`` naming it rather than replaced by a regular file.
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise IsADirectoryError("no file name given")
    path = Path(os.path.realpath(path)) if path.is_symlink() else path
    if path.exists():
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        if not path.is_file():
            raise OSError(f"{path} is not a regular file (a device or a pipe)")
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only")
    if path.parent and not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: folder does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
