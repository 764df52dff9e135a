"""Progress bars: tqdm when it is installed (``strided[progress]``), a small built-in bar otherwise."""

from __future__ import annotations

import sys
import time


class _PlainBar:
    """A one-line text bar on stderr: ``epoch 3/15 [#######.....] 28/45 loss 0.1234``."""

    def __init__(self, total: int, desc: str, stream=None, width: int = 24):
        self.total, self.desc, self.width = total, desc, width
        self.stream = stream or sys.stderr
        self.count, self.postfix = 0, ""
        self.started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.count += n
        self._draw()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def _draw(self) -> None:
        filled = int(self.width * self.count / max(self.total, 1))
        elapsed = time.perf_counter() - self.started
        line = (f"\r{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.count}/{self.total} "
                f"{elapsed:5.1f}s {self.postfix}")
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A bar with ``update()``, ``set_postfix_str()`` and ``close()``.

    Silent when not ``enabled`` or when stderr is not a terminal (logs and CI stay clean).
    """
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(total, desc)
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)
