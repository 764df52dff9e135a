"""``strided datasets``: which data sets ``strided train --data`` can use here, their sizes, how to get the rest.

Nothing is loaded or downloaded: availability is whether the package imports or the files are
in place; Fashion-MNIST's sizes are read from its IDX headers.
"""

from __future__ import annotations

import gzip
import importlib.util
import json

import numpy as np


def idx_count(path: str) -> tuple[int, ...]:
    """The sizes in an IDX file's header (gzipped or not), reading only the header."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
        head = handle.read(4)
        ndim = head[3] if len(head) == 4 else 0
        dims = handle.read(4 * ndim)
    if len(head) < 4 or head[:2] != b"\x00\x00" or len(dims) < 4 * ndim:
        raise ValueError(f"{path} is not an IDX file")
    return tuple(int(d) for d in np.frombuffer(dims, ">u4"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _fashion() -> dict:
    from .data.idx import FASHION_DIRS, FILES, _find
    entry = {"name": "fashion-mnist", "spec": "fashion-mnist", "classes": 10, "input": "1x28x28",
             "about": "Zalando's clothing images, 10 classes",
             "get": "apt-get install dataset-fashion-mnist (Debian, Ubuntu), or place train-images-idx3-ubyte, "
                    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (.gz or not) in DIR "
                    "and use --data fashion-mnist:DIR"}
    for folder in FASHION_DIRS:
        paths = {part: [_find(folder, name) for name in names] for part, names in FILES.items()}
        if all(p for names in paths.values() for p in names):
            try:
                sizes = {part: idx_count(names[0]) for part, names in paths.items()}
            except (OSError, ValueError, EOFError):
                continue
            return {**entry, "available": True, "where": folder, "train": sizes["train"][0],
                    "test": sizes["test"][0], "input": "1x" + "x".join(map(str, sizes["train"][1:]))}
    return {**entry, "available": False, "train": 60000, "test": 10000,
            "where": f"not in {', '.join(FASHION_DIRS)}"}


def catalogue() -> list[dict]:
    """One entry per data set: name, spec, available (True, False, or None: your own files), sizes, how to get it."""
    pillow = _has("PIL")
    return [
        {"name": "digits", "spec": "digits", "available": _has("sklearn"), "train": 1437, "test": 360,
         "input": "1x32x32", "classes": 10, "where": "inside scikit-learn",
         "about": "scikit-learn's 1,797 8x8 handwritten digits, upsampled to 32x32 (digits:16 for 16x16)",
         "get": 'pip install "strided[data]" (scikit-learn)'},
        {"name": "mnist1d", "spec": "mnist1d", "available": _has("mnist1d"), "train": 4000, "test": 1000,
         "input": "1x40", "classes": 10, "where": "made on the spot by the mnist1d package",
         "about": "MNIST-1D signals (Greydanus and Kobak)", "get": 'pip install "strided[mnist1d]"'},
        _fashion(),
        {"name": "mnist", "spec": "mnist:DIR", "available": None, "train": 60000, "test": 10000,
         "input": "1x28x28", "classes": 10, "about": "LeCun's handwritten digits",
         "get": "place train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                "t10k-labels-idx1-ubyte (.gz or not) in DIR"},
        {"name": "cifar10", "spec": "cifar10:DIR", "available": None, "train": 50000, "test": 10000,
         "input": "3x32x32", "classes": 10, "about": "CIFAR-10, the python version",
         "get": "extract cifar-10-python.tar.gz in DIR (DIR/cifar-10-batches-py/data_batch_1 ... test_batch, "
                "batches.meta)"},
        {"name": "cifar100", "spec": "cifar100:DIR", "available": None, "train": 50000, "test": 10000,
         "input": "3x32x32", "classes": 100, "about": "CIFAR-100 (fine labels), the python version",
         "get": "extract cifar-100-python.tar.gz in DIR (DIR/cifar-100-python/train, test, meta)"},
        {"name": "idx", "spec": "idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]", "available": None,
         "about": "any IDX image and label files; without test files a fixed stratified 10% is held out",
         "get": "IDX files (MNIST's format)"},
        {"name": "folder", "spec": "folder:DIR", "available": None if pillow else False,
         "about": "images in DIR/<class>/ (or DIR/train/<class>/ and DIR/test/<class>/); else a fixed stratified "
                  "10% is held out; --image-size resizes",
         "get": "images in DIR/<class>/" + ("" if pillow else '; and Pillow: pip install "strided[images]"')},
    ]


def _status(entry: dict) -> str:
    return {True: "available", False: "missing", None: "your files"}[entry["available"]]


def run_datasets(args) -> int:
    entries = catalogue()
    if args.format == "json":
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(e["name"]) for e in entries)
    for e in entries:
        size = (f"{e['train']:,} train / {e['test']:,} test, {e['input']}, {e['classes']} classes"
                if "train" in e else "")
        print(f"{e['name']:<{width}}  {_status(e):<10}  {size}".rstrip())
        pad = " " * (width + 2)
        print(f"{pad}{e['about']}" + (f" ({e['where']})" if e.get("where") and e["available"] else ""))
        print(f"{pad}--data {e['spec']}")
        if e["available"] is False or (e["available"] is None and "DIR" in e["get"]):
            print(f"{pad}{'to get it' if e['available'] is False else 'to use it'}: {e['get']}")
    return 0


def add_commands(commands) -> None:
    ds = commands.add_parser("datasets", help="the data sets strided train can use here, and how to get the others")
    ds.add_argument("--format", choices=("text", "json"), default="text")
    ds.set_defaults(run=run_datasets)


__all__ = ["add_commands", "catalogue", "idx_count"]
