"""Atomic file replacement: a crash mid-write never destroys the previous file."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path`` to write to; on success it replaces ``path``.

    The temporary file is flushed to disk (``fsync``) and renamed over ``path`` with
    ``os.replace``, which is atomic; on any error it is removed and ``path`` is left as it was.

    >>> # with atomic_path("ckpt.npz", ".npz") as tmp: np.savez(tmp, ...)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
