"""Saving and loading state without pickle, with atomic writes and checked reads.

A file is a NumPy ``.npz`` archive: every array of the saved object is stored as ``a0``,
``a1``, ... and the structure around them (dicts, lists, tuples, numbers, strings, ``None``)
as JSON in the entry ``__tree__``, together with a table ``arrays`` giving each array's dtype,
shape and the SHA-256 of its bytes. Loading parses the ``.npy`` headers itself (never with
pickle) and the JSON with ``json.loads``: nothing in the file is ever executed.

Nothing read is trusted. ``load`` refuses with a ``ValueError`` that names the file (and the
entry): a zip entry whose CRC-32 fails, an array whose dtype, shape or SHA-256 differs from the
table, an entry whose ``.npy`` header does not account for exactly its bytes (a flipped bit in
a header length), an entry the structure does not refer to or a reference without its entry,
a structure nested deeper than ``MAX_DEPTH``, a dtype other than booleans and real numbers,
and a file whose entries would take more than ``max_bytes`` (default ``MAX_BYTES``, 4 GiB)
once read or whose compressed entries would inflate more than ``MAX_RATIO`` (100) times (a
decompression bomb: ``st.save`` never compresses), checked before anything is inflated or
allocated; ``max_bytes=None`` lifts both bounds for a file one trusts. Files written before the
checksums existed load with a ``NoChecksumWarning`` (their zip CRCs are still checked).

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
target (``os.replace`` is atomic), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np

from ..backend import CPU, backend_of
from .atomic import atomic_path

TREE_KEY = "__tree__"
FORMAT = "strided-state/1"
MAX_BYTES = 4 * 2 ** 30        # the default bound on what a file may take in memory once read
MAX_RATIO = 100                # the most compressed entries may expand (st.save stores, never compresses)
MAX_DEPTH = 100                # containers (dicts, lists, tuples) nested in a saved object
_JSON_DEPTH = 3 * MAX_DEPTH + 4    # a dict is 3 JSON levels: {"__dict__": [[key, value]]}
_CHUNK = 1 << 24
_NPY_MAGIC, _NPY_MAX_HEADER = b"\x93NUMPY", 1 << 16
_NPY_HEADER = re.compile(                    # what np.save writes: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
    rb"^\{\s*'descr':\s*'(?P<descr>[<>|=]?[A-Za-z][A-Za-z0-9\[\]]{0,31})',\s*'fortran_order':\s*(?P<fortran>True|False),\s*"
    rb"'shape':\s*\((?P<shape>\s*(?:[0-9]{1,19}\s*,\s*)*(?:[0-9]{1,19})?\s*)\),?\s*\}[ ]*\n$")
_NODES = ("__array__", "__float__", "__tuple__", "__dict__")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class NoChecksumWarning(UserWarning):
    """A file written before strided stored checksums: its arrays are checked by the zip CRCs only."""


# ----------------------------------------------------------------------------------- writing
def _encode(obj, arrays: dict, depth: int = 0):
    """JSON-ready structure of ``obj``; arrays are moved into ``arrays`` and referenced by name
    (a device array, e.g. on a GPU, as a host copy)."""
    if not isinstance(obj, np.ndarray) and backend_of(obj) is not CPU:
        obj = backend_of(obj).to_host(obj)
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic) and not isinstance(obj, (np.bool_,)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
            raise TypeError(f"save: arrays of dtype {arr.dtype} are not supported (numbers and booleans only)")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"__array__": name}
    if type(obj).__name__ in ("Tensor", "Parameter") and hasattr(obj, "data") and (
            isinstance(obj.data, np.ndarray) or backend_of(obj.data) is not CPU):
        return _encode(obj.data, arrays, depth)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return {"__float__": repr(obj)}   # keeps inf and nan, which JSON lacks
    if isinstance(obj, (dict, tuple, list)) and depth >= MAX_DEPTH:
        raise ValueError(f"save: the object is nested more than {MAX_DEPTH} containers deep (or holds itself); "
                         f"st.load would refuse it")
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r}")
        return {"__dict__": [[key, _encode(value, arrays, depth + 1)] for key, value in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, depth + 1) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays, depth + 1) for v in obj]
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__}; use dicts, lists, tuples, "
                    f"numbers, strings, None and NumPy arrays")


def _digest(array: np.ndarray) -> str:
    """SHA-256 of a C-contiguous array's bytes."""
    return hashlib.sha256(array.reshape(-1).view(np.uint8)).hexdigest()


def save(obj, path) -> None:
    """Write ``obj`` (a ``state_dict``, an optimizer state, or a dict of such) to ``path`` atomically.

    Every array's dtype, shape and SHA-256 go into the file's structure, for ``load`` to check.

    Args:
        obj: a ``state_dict``, an optimizer state, or nested dicts and lists of arrays, numbers and strings.
        path: the file written (``.npz``).

    >>> # st.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.npz")
    """
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, arrays)
    table = {}
    for name, array in arrays.items():
        if not array.flags.c_contiguous:
            arrays[name] = array = array.copy(order="C")       # keeps 0-d arrays 0-d
        table[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": _digest(array)}
    tree = {"format": FORMAT, "root": root, "arrays": table}
    payload = {TREE_KEY: np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)}
    payload.update(arrays)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)


# ----------------------------------------------------------------------------------- reading
def _check_limit(max_bytes):
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise TypeError(f"load: max_bytes must be an int >= 0 or None (no limit), got {max_bytes!r}")
    return int(max_bytes)


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of brackets in JSON text (strings left out), without parsing it."""
    codes = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


class _Reader:
    """An open strided file: its zip entries checked against ``max_bytes``, read one at a time."""

    def __init__(self, path: str, max_bytes):
        self.path, self.max_bytes = path, max_bytes
        try:
            self.handle = open(path, "rb")
        except FileNotFoundError:
            raise
        except OSError as error:
            raise self.unreadable(f"{type(error).__name__}: {error}") from error
        try:
            self._open()
        except BaseException:
            self.handle.close()
            raise

    def unreadable(self, detail: str) -> ValueError:
        return ValueError(f"load: {self.path} is not a readable strided state file ({detail})")

    def damaged(self, detail: str) -> ValueError:
        return ValueError(f"load: {self.path} is damaged: {detail}; it cannot be trusted (use an intact copy)")

    def _open(self):
        magic = self.handle.read(6)
        self.handle.seek(0)
        if magic == b"\x93NUMPY":
            raise ValueError(f"load: {self.path} is not a strided state file (a single .npy array, not an archive)")
        try:
            self.zip = zipfile.ZipFile(self.handle)
            infos = self.zip.infolist()
        except Exception as error:         # BadZipFile, OSError, EOFError, ... from a crafted directory
            raise self.unreadable(f"{type(error).__name__}: {error}") from error
        self.entries = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key in self.entries:
                raise self.damaged(f"the entry {info.filename} appears twice")
            self.entries[key] = info
        if TREE_KEY not in self.entries:
            raise ValueError(f"load: {self.path} is not a strided state file (no {TREE_KEY} entry)")
        for key, info in self.entries.items():
            if not info.filename.endswith(".npy"):
                raise self.unreadable(f"the entry {info.filename!r} is not a .npy array")
            if info.flag_bits & 0x1:
                raise self.unreadable(f"the entry {info.filename} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.unreadable(f"the entry {info.filename} uses compression method {info.compress_type} "
                                      f"(stored or deflated only)")
        total = sum(info.file_size for info in self.entries.values())
        if self.max_bytes is not None and total > self.max_bytes:
            raise ValueError(f"load: {self.path} would take {total:,} bytes once read (as its entries declare), "
                             f"more than max_bytes={self.max_bytes:,}; if you trust the file, pass a larger "
                             f"max_bytes (or max_bytes=None)")
        deflated = [info for info in self.entries.values() if info.compress_type == zipfile.ZIP_DEFLATED]
        inflated, packed = sum(i.file_size for i in deflated), sum(i.compress_size for i in deflated)
        if self.max_bytes is not None and inflated > max(MAX_RATIO * packed, 2 ** 20):
            raise ValueError(f"load: {self.path} has compressed entries that would inflate from {packed:,} to "
                             f"{inflated:,} bytes, more than {MAX_RATIO}x (st.save never compresses; this is how a "
                             f"decompression bomb looks); if you trust the file, pass max_bytes=None")

    def close(self):
        try:
            self.zip.close()
        except AttributeError:
            pass
        self.handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --------------------------------------------------------------------------- entries
    def array(self, key: str, expected: dict | None = None, kinds: str = "biuf") -> np.ndarray:
        """Entry ``key`` as an array, every byte checked (header, size, CRC, the table's dtype/shape/SHA-256)."""
        info = self.entries[key]
        name = info.filename
        try:
            with self.zip.open(info) as entry:
                shape, fortran, dtype = self._npy_header(entry, name)
                start = entry.tell()
                self._check_header(name, shape, fortran, dtype, kinds, expected)
                nbytes = dtype.itemsize * math.prod(shape)
                if info.file_size - start != nbytes:
                    raise self.damaged(f"the entry {name} declares {dtype} {tuple(shape)} ({nbytes:,} bytes) but "
                                       f"holds {info.file_size - start:,} bytes of data")
                buffer = np.empty(nbytes, dtype=np.uint8)
                view, done = memoryview(buffer), 0
                while done < nbytes:
                    chunk = entry.read(min(_CHUNK, nbytes - done))
                    if not chunk:
                        raise self.damaged(f"the entry {name} ends after {done:,} of its {nbytes:,} bytes of data")
                    view[done:done + len(chunk)] = chunk
                    done += len(chunk)
                if entry.read(1):
                    raise self.damaged(f"the entry {name} holds more data than its header declares")
        except ValueError as error:
            if str(error).startswith(f"load: {self.path} "):
                raise
            raise self.unreadable(f"the entry {name}: {error}") from error
        except zipfile.BadZipFile as error:
            if "CRC" in str(error):
                raise self.damaged(f"the entry {name} fails its CRC-32 check") from error
            raise self.damaged(f"the entry {name}: {error}") from error
        except Exception as error:         # whatever a crafted entry provokes in zipfile/zlib (OSError, EOFError, ...)
            raise self.unreadable(f"the entry {name}: {type(error).__name__}: {error}") from error
        array = buffer.view(dtype).reshape(shape, order="F" if fortran else "C")
        if expected is not None and _digest(buffer) != expected["sha256"]:
            raise self.damaged(f"the array {key} (entry {name}) differs from the SHA-256 recorded when it was saved")
        return array

    def _npy_header(self, entry, name: str):
        """``(shape, fortran_order, dtype)`` of a ``.npy`` header, parsed strictly (no ``ast``, no ``eval``)."""
        start = entry.read(8)                                  # magic (6 bytes), version (2)
        if start[:6] != _NPY_MAGIC or start[6:] not in (b"\x01\x00", b"\x02\x00"):
            raise self.damaged(f"the entry {name} does not start with a .npy header (version 1.0 or 2.0)")
        field = entry.read(2 if start[6] == 1 else 4)          # the header's length, little-endian
        length = int.from_bytes(field, "little")
        header = entry.read(min(length, _NPY_MAX_HEADER + 1))
        return self._parse_npy_header(header, length, name)

    def _parse_npy_header(self, header: bytes, length: int, name: str):
        match = _NPY_HEADER.match(header) if len(header) == length <= _NPY_MAX_HEADER else None
        if match is None and re.match(rb"^\{\s*'descr':\s*\[", header):
            raise self.unreadable(f"the entry {name} holds a structured dtype; only numbers and booleans are stored")
        if match is None:
            raise self.damaged(f"the entry {name} has a malformed .npy header (declared length {length:,}): "
                               f"{header[:80]!r}")
        shape = tuple(int(n) for n in re.sub(rb"\s", b"", match["shape"]).split(b",") if n)
        try:
            dtype = np.dtype(match["descr"].decode("ascii"))
        except (TypeError, ValueError):
            raise self.damaged(f"the entry {name} declares the dtype {match['descr']!r}") from None
        return shape, match["fortran"] == b"True", dtype

    def _check_header(self, name, shape, fortran, dtype, kinds, expected):
        if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
            raise self.unreadable(f"the entry {name} holds dtype {dtype}; only numbers and booleans are stored")
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise self.damaged(f"the entry {name} declares the shape {shape}")
        if expected is not None:
            if dtype.str != expected["dtype"] or list(shape) != expected["shape"] or fortran:
                raise self.damaged(f"the entry {name} holds {dtype.str} {tuple(shape)}{' (Fortran order)' * fortran},"
                                   f" the structure recorded {expected['dtype']} {tuple(expected['shape'])}")

    def tree(self) -> dict:
        """The JSON structure, its depth bounded before it is parsed; the format and table checked."""
        raw = self.array(TREE_KEY, kinds="u")
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise self.unreadable(f"{TREE_KEY} is {raw.dtype} {raw.shape}, not bytes")
        data = raw.tobytes()
        if _json_depth(data) > _JSON_DEPTH:
            raise self.unreadable(f"its structure is nested deeper than {MAX_DEPTH} containers")
        try:
            tree = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as error:
            raise self.unreadable(f"{TREE_KEY} is not JSON: {type(error).__name__}: {error}") from error
        if not isinstance(tree, dict) or tree.get("format") != FORMAT:
            found = tree.get("format") if isinstance(tree, dict) else None
            raise ValueError(f"load: {self.path} has format {found!r}, expected {FORMAT!r}")
        if "root" not in tree:
            raise self.unreadable(f"{TREE_KEY} has no root")
        table = tree.get("arrays")
        if table is not None:
            self._check_table(table)
        return tree

    def _check_table(self, table):
        if not isinstance(table, dict):
            raise self.unreadable("its table of arrays is not a dict")
        for key, entry in table.items():
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if (not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "sha256"}
                    or not isinstance(entry["dtype"], str) or not isinstance(shape, list)
                    or not all(type(n) is int and n >= 0 for n in shape)
                    or not isinstance(entry["sha256"], str) or len(entry["sha256"]) != 64):
                raise self.unreadable(f"its table entry for {key!r} is malformed: {entry!r:.200}")

    def references(self, tree: dict) -> list[str]:
        """The array names the structure refers to, every node checked; each must be an entry, once."""
        names: list[str] = []
        stack = [(tree["root"], 0)]                    # (node, containers around it)
        while stack:
            node, depth = stack.pop()
            if isinstance(node, dict) and (len(node) != 1 or next(iter(node)) not in _NODES):
                raise self.unreadable(f"unknown node {sorted(node)!r:.100} in the file's structure")
            container = isinstance(node, list) or isinstance(node, dict) and next(iter(node)) in _NODES[2:]
            if container and depth >= MAX_DEPTH:
                raise self.unreadable(f"its structure is nested deeper than {MAX_DEPTH} containers")
            if isinstance(node, list):
                stack.extend((child, depth + 1) for child in node)
            elif isinstance(node, dict):
                kind, value = next(iter(node.items()))
                if kind == "__array__":
                    if not isinstance(value, str) or value == TREE_KEY:
                        raise self.unreadable(f"the node {node!r:.100} does not name an array")
                    names.append(value)
                elif kind == "__float__":
                    try:
                        float(value if isinstance(value, str) else "x")
                    except ValueError:
                        raise self.unreadable(f"the node {node!r:.100} is not a float") from None
                elif kind == "__tuple__":
                    if not isinstance(value, list):
                        raise self.unreadable(f"the node {node!r:.100} is not a tuple")
                    stack.extend((child, depth + 1) for child in value)
                else:
                    self._check_items(value)
                    stack.extend((pair[1], depth + 1) for pair in value)
        missing = sorted({n for n in names if n not in self.entries})
        if missing:
            raise self.damaged(f"the structure refers to the array(s) {', '.join(missing)}, which the file lacks")
        if len(set(names)) != len(names):
            raise self.damaged("the structure refers to an array twice")
        extra = sorted(set(self.entries) - set(names) - {TREE_KEY})
        if extra:
            raise self.damaged(f"the entries {', '.join(e + '.npy' for e in extra)} are not part of its structure")
        table = tree.get("arrays")
        if table is not None and set(table) != set(names):
            raise self.damaged("its table of arrays does not list exactly the arrays of its structure")
        return names

    def _check_items(self, items):
        if not isinstance(items, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in items):
            raise self.unreadable(f"a __dict__ node is not a list of [key, value] pairs: {items!r:.100}")
        keys = [pair[0] for pair in items]
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
            raise self.unreadable(f"a dict key is neither str nor int: {keys!r:.100}")
        if len(set(keys)) != len(keys):
            raise self.unreadable(f"a dict has a key twice: {keys!r:.100}")


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__float__" in node:
            return float(node["__float__"])
        if "__tuple__" in node:
            return tuple(_decode(v, arrays) for v in node["__tuple__"])
        if "__dict__" in node:
            return OrderedDict((key, _decode(value, arrays)) for key, value in node["__dict__"])
        raise ValueError(f"load: unknown node {sorted(node)} in the file's structure")
    return node


def load(path, *, max_bytes: int | None = MAX_BYTES, arrays: bool = True):
    """Read what ``save`` wrote, checking every byte; never unpickles (arrays of numbers and JSON only).

    Refuses a damaged, truncated, crafted or foreign file with a ``ValueError`` naming it (and
    the entry at fault); a missing file raises ``FileNotFoundError``. ``max_bytes``: the most
    the file's entries may take in memory once read (default ``MAX_BYTES``, 4 GiB; ``None``: no
    bound), checked before anything is read; compressed entries may inflate at most ``MAX_RATIO``
    (100) times unless ``max_bytes=None``. ``arrays=False`` reads only the structure, every
    array given as ``None`` (cheap: e.g. a checkpoint's position). Files written before
    checksums were stored load with a ``NoChecksumWarning``.

    Args:
        path: the file written by ``save``.
        max_bytes: the most the entries may take in memory once read (default 4 GiB; ``None``: no bound).
        arrays: read the arrays (``False``: the structure only, arrays as ``None``).

    >>> # model.load_state_dict(st.load("weights.npz"))
    """
    path = os.fspath(path)
    max_bytes = _check_limit(max_bytes)
    with _Reader(path, max_bytes) as reader:
        tree = reader.tree()
        names = reader.references(tree)
        table = tree.get("arrays")
        if not arrays:
            return _decode(tree["root"], defaultdict(lambda: None))
        values = {name: reader.array(name, None if table is None else table[name])
                  for name in sorted(names, key=lambda n: reader.entries[n].header_offset)}
    if table is None and names:
        warnings.warn(f"load: {path} was written without checksums (by strided before they were stored): only "
                      f"the zip CRCs checked its arrays; saving it again adds them", NoChecksumWarning, stacklevel=2)
    return _decode(tree["root"], values)


__all__ = ["save", "load", "MAX_BYTES", "MAX_DEPTH", "MAX_RATIO", "NoChecksumWarning"]
