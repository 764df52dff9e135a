"""Progress: a tqdm bar per epoch (loss, accuracy, images/s) and the one log line per epoch.

tqdm is an optional extra (``pip install 'strided[progress]'``); without it there is no bar,
only the log lines. ``enabled=None`` (auto) shows the bar only when standard output is a
terminal, so logs redirected to a file and CI stay clean.
"""

from __future__ import annotations

import math
import sys


class _NoBar:
    """What ``progress_bar`` returns when there is no bar to draw."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def bar_enabled(enabled: bool | None) -> bool:
    """``enabled``, or for ``None`` whether standard output is a terminal."""
    if enabled is None:
        stream = sys.stdout
        return bool(getattr(stream, "isatty", None) and stream.isatty())
    return bool(enabled)


def progress_bar(total: int, desc: str, enabled: bool | None = None, initial: int = 0):
    """A bar with ``update()``, ``set_postfix_str()`` and ``close()``: tqdm on stderr, or a silent stand-in.

    Silent when disabled, when ``enabled`` is ``None`` and stdout is not a terminal, or without tqdm.

    Args:
        total: the number of steps of the bar.
        desc: the bar's label.
        enabled: show it (``None``: when stdout is a terminal).
        initial: the steps already done (a resumed epoch).

    Example:
        >>> bar = progress_bar(3, "epoch 1", enabled=False)     # enabled=True: a tqdm bar on stderr
        >>> for _ in range(3):
        ...     bar.update()
        >>> bar.close()
    """
    if not bar_enabled(enabled):
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


def bar_text(logs: dict, images_per_second: float) -> str:
    """``loss 0.1234 acc 0.9650 812 img/s`` for the bar's postfix."""
    parts = [f"loss {logs['loss']:.4f}"] if "loss" in logs else []
    if "accuracy" in logs:
        parts.append(f"acc {logs['accuracy']:.4f}")
    parts.append(f"{images_per_second:.0f} img/s")
    return " ".join(parts)


def _number(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _part(row: dict, prefix: str) -> str:
    keys = [k for k in row if k.startswith(prefix + "_")]
    if not keys:
        return ""
    short = {"loss": "loss", "accuracy": "acc"}
    items = [f"{short.get(k[len(prefix) + 1:], k[len(prefix) + 1:])} {_number(row[k])}" for k in keys]
    return f"  {prefix} " + " ".join(items)


def epoch_line(row: dict, epochs: int, val_name: str = "val", images_per_second: float | None = None) -> str:
    """The log line of one epoch: ``epoch   3/20  lr 0.0197  train loss .. acc ..  val loss .. acc ..  (1.3s)``."""
    speed = "" if images_per_second is None else f", {images_per_second:.0f} img/s"
    return (f"epoch {row['epoch']:3d}/{epochs}  lr {row['lr']:.4g}{_part(row, 'train')}{_part(row, val_name)}  "
            f"({row['seconds']:.1f}s{speed})")


__all__ = ["progress_bar", "bar_enabled", "bar_text", "epoch_line"]
