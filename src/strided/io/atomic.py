"""Atomic file replacement: a crash mid-write never destroys the previous file.

The temporary file is named ``.strided-tmp-<host>-<pid>-<random><suffix>`` (``<host>``: 8 hex
digits of the host name's SHA-1) next to the target, created with the usual permissions
(``0o666`` less the process's umask, as ``open()`` would), flushed to disk and renamed over the
target. A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file, so
every ``atomic_path`` first removes the *stale* temporary files of that folder: only names of
this pattern, written on this host, whose writer process is gone (or whose pid now belongs to a
process started after the file was last written). Nothing else in the folder is touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import threading
import time
from contextlib import contextmanager

PREFIX = ".strided-tmp-"
_NAME = re.compile(r"^\.strided-tmp-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}[A-Za-z0-9_.-]{0,32}$")
_ACTIVE: set[str] = set()              # this process's temporary files being written (other threads' too)
_LOCK = threading.Lock()


def host_tag() -> str:
    """8 hex digits naming this host in temporary file names."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def temp_name(suffix: str = "") -> str:
    """A fresh temporary file name of our pattern: ``.strided-tmp-<host>-<pid>-<random><suffix>``."""
    return f"{PREFIX}{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch; Linux ``/proc``), or ``None`` if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
        ticks = int(text[text.rindex(")") + 2:].split()[19])           # field 22: starttime
        boot = _boot_time()
        return None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True                          # another user's process, or a pid we cannot ask about: keep its file
    return True


def is_stale(path: str) -> bool:
    """Whether ``path`` is a temporary file of ours whose writer can no longer finish it."""
    match = _NAME.match(os.path.basename(path))
    if match is None or match["host"] != host_tag() or os.name != "posix":
        return False                      # not ours, another host's, or no safe way to ask about a pid
    pid = int(match["pid"])
    if pid <= 0:
        return False
    with _LOCK:
        if os.path.abspath(path) in _ACTIVE:
            return False
    try:
        written = os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return False
    if pid == os.getpid() or _alive(pid):
        started = process_start_time(pid)      # a live pid is stale only if reused since the file was written
        return started is not None and started > written + 2.0
    return True


def remove_stale(folder) -> list[str]:
    """Delete the stale temporary files of ours in ``folder`` (see ``is_stale``); returns their paths."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or not is_stale(entry.path):
                continue
            os.remove(entry.path)
            removed.append(entry.path)
        except OSError:                    # another process removed it first, or we may not: leave it
            continue
    return removed


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path`` to write to; on success it replaces ``path``.

    The temporary file is flushed to disk (``fsync``) and renamed over ``path`` with
    ``os.replace``, which is atomic; on any error it is removed and ``path`` is left as it was.
    Stale temporary files that killed writers left in the folder are removed first.

    >>> # with atomic_path("ckpt.npz", ".npz") as tmp: np.savez(tmp, ...)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(folder, temp_name(suffix))
        try:
            os.close(os.open(tmp, flags, 0o666))          # 0o666 less the umask, as open() gives
            break
        except FileExistsError:                            # 32 random bits met an old name: draw again
            time.sleep(0)
    with _LOCK:
        _ACTIVE.add(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        with _LOCK:
            _ACTIVE.discard(tmp)
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


__all__ = ["atomic_path", "remove_stale", "is_stale", "temp_name", "PREFIX"]
