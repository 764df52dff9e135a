"""Strict JSON and CSV files of a run's history, written atomically.

JSON has no NaN or infinity; Python's ``json`` would write the bare tokens ``NaN`` and
``Infinity``, which strict parsers (JavaScript, ``jq``, most other languages) reject. Here NaN
becomes ``null`` and the infinities the strings ``"inf"`` / ``"-inf"``, and the file is written
with ``allow_nan=False`` so nothing else slips through.

>>> json_safe({"loss": float("nan"), "best": float("inf"), "rows": (1, 2.5)})
{'loss': None, 'best': 'inf', 'rows': [1, 2.5]}
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np

from ..io.atomic import atomic_path


def json_safe(obj):
    """``obj`` with NumPy values as Python ones, tuples as lists, NaN as ``None``, infinities as strings.

    Args:
        obj: nested dicts, lists, tuples, NumPy and Python values.

    Example:
        >>> json_safe({"loss": np.float32(0.5), "best": float("nan"), "shape": (2, 3), "top": float("inf")})
        {'loss': 0.5, 'best': None, 'shape': [2, 3], 'top': 'inf'}
    """
    if isinstance(obj, dict):
        return {str(key): json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(obj, path, indent: int = 2) -> None:
    """Write ``json_safe(obj)`` as strict JSON to ``path`` through a temporary file and an atomic rename.

    Args:
        obj: what to write (made safe by ``json_safe``).
        path: the file written.
        indent: the JSON indentation.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> path = os.path.join(folder, "result.json")
        >>> write_json({"accuracy": np.float64(0.75)}, path, indent=None)
        >>> open(path).read().strip()
        '{"accuracy": 0.75}'
    """
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False)
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as handle:
            handle.write(text + "\n")


def write_csv(rows, path) -> None:
    """Write rows (dicts) as CSV: columns in order of first appearance, missing cells empty; atomic."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_path(path, ".csv") as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: json_safe(value) if isinstance(value, np.generic) else value
                                 for key, value in row.items() if np.ndim(value) == 0})


__all__ = ["json_safe", "write_json", "write_csv"]
