"""Hostile files: a corpus generated here (truncations, single-byte flips over every byte of a small
checkpoint, bit flips in every ``.npy`` header-length field, crafted structures, malformed
safetensors), each handed to the loader.

Every attempt must end one of two ways: a ``ValueError`` whose message names the file ("refused
clearly"), or a load equal to what was saved, dtypes, shapes and bytes ("loaded exactly"). A wrong
value, any other exception, an error that does not name the file or a load running past
``DEADLINE`` seconds is "failed otherwise", and fails the test. The oracle is the saved object
itself, compared bit for bit. ``python tests/test_hostile_files.py [--full]`` prints the table of
outcomes by kind (``--full``: every byte and length of the larger checkpoint too).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import warnings
import zipfile
from collections import Counter, OrderedDict
from contextlib import contextmanager

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.io import serialization
from strided.train.checkpoint import load_checkpoint, save_checkpoint, training_state

DEADLINE = 20          # seconds: a load taking longer counts as a hang
REFUSE = object()      # the expected value of a crafted case: it must be refused


# ------------------------------------------------------------------------------------- outcomes
class Hang(Exception):
    pass


@contextmanager
def deadline(seconds: float):
    """Raise ``Hang`` in the main thread if the block runs past ``seconds``."""
    def alarm(signum, frame):
        raise Hang()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def same(a, b) -> bool:
    """Bit-exact equality of loaded structures: containers by type and order, arrays by dtype, shape, bytes."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    return type(a) is type(b) and a == b


def attempt(load, path, expected) -> str:
    """``'refused'``, ``'exact'`` or ``'failed: why'`` for one load of ``path``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with deadline(DEADLINE):
                got = load(path)
    except ValueError as error:
        return "refused" if os.fspath(path) in str(error) else f"failed: ValueError without the file: {error}"
    except Hang:
        return f"failed: still loading after {DEADLINE} s"
    except Exception as error:
        return f"failed: {type(error).__name__}: {error}"
    if expected is REFUSE:
        return "failed: a crafted file loaded"
    return "exact" if same(got, expected) else "failed: a wrong value loaded"


class Tally:
    """Outcomes counted by kind; keeps the first few failures of each kind for the message."""

    def __init__(self):
        self.counts: dict[str, Counter] = OrderedDict()
        self.failures: list[str] = []

    def add(self, kind: str, outcome: str, case: str) -> None:
        self.counts.setdefault(kind, Counter())["failed" if outcome.startswith("failed") else outcome] += 1
        if outcome.startswith("failed") and len(self.failures) < 20:
            self.failures.append(f"{kind} / {case}: {outcome[:300]}")

    def table(self) -> str:
        lines = [f"{'kind':<34}{'attempts':>9}{'refused':>9}{'exact':>9}{'failed':>8}"]
        total = Counter()
        for kind, c in self.counts.items():
            n = sum(c.values())
            total.update(c)
            lines.append(f"{kind:<34}{n:>9,}{c['refused']:>9,}{c['exact']:>9,}{c['failed']:>8,}")
        lines.append(f"{'all':<34}{sum(total.values()):>9,}{total['refused']:>9,}{total['exact']:>9,}"
                     f"{total['failed']:>8,}")
        return "\n".join(lines)


def run_corpus(folder, tally: Tally, kind: str, original: bytes, mutations, load, expected) -> None:
    """Write each ``(case, bytes)`` of ``mutations`` to a file in ``folder`` and record its load."""
    path = os.path.join(folder, f"{kind.split()[0]}.bin")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for case, data in mutations:
            os.ftruncate(descriptor, len(data))       # rewritten in place: re-creating a file is slow on some disks
            os.pwrite(descriptor, data, 0)
            tally.add(kind, attempt(load, path, expected), case)
    finally:
        os.close(descriptor)


def truncations(data: bytes, step: int = 1):
    return ((f"first {n} bytes", data[:n]) for n in range(0, len(data), step))


def byte_flips(data: bytes, seed: int, step: int = 1):
    """Every ``step``-th byte XOR-ed with a nonzero value drawn from ``seed`` (one byte changed per case)."""
    values = np.random.default_rng(seed).integers(1, 256, size=len(data))
    for offset in range(0, len(data), step):
        changed = bytearray(data)
        changed[offset] ^= int(values[offset])
        yield f"byte {offset} ^= {int(values[offset]):#04x}", bytes(changed)


def header_length_flips(data: bytes):
    """Each bit of every ``.npy`` header-length field (2 bytes after magic and version) flipped."""
    start = data.find(b"\x93NUMPY")
    while start >= 0:
        for offset in (start + 8, start + 9):
            for bit in range(8):
                changed = bytearray(data)
                changed[offset] ^= 1 << bit
                yield f"header length at {offset}, bit {bit}", bytes(changed)
        start = data.find(b"\x93NUMPY", start + 1)


# ------------------------------------------------------------------------------------- files
def small_checkpoint(adam: bool):
    """A training checkpoint of a small CNN (a 40x32 weight of 5 kB, a Dropout generator), after one step."""
    st.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 40, rng=2),
                          nn.Dropout(0.2, rng=np.random.default_rng(3)), nn.Linear(40, 3, rng=4))
    optimizer = (st.optim.Adam(model.parameters(), lr=0.01) if adam
                 else st.optim.SGD(model.parameters(), lr=0.1))
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)
    st.nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 0])).backward()
    optimizer.step()
    scheduler = st.optim.StepLR(optimizer, 2)
    return training_state(model, optimizer, scheduler=scheduler,
                          position={"epoch": 1, "batch": 2, "step": 11, "lr": 0.01, "begun": True})


def saved_bytes(obj, folder, name="saved.npz") -> tuple[bytes, object]:
    """The bytes ``st.save`` writes for ``obj`` and what ``st.load`` gives back for them (the oracle)."""
    path = os.path.join(folder, name)
    st.save(obj, path)
    with open(path, "rb") as handle:
        return handle.read(), st.load(path)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def raw_npy(header: str, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    text = header.encode("latin1")
    return b"\x93NUMPY" + version + len(text).to_bytes(2 if version == b"\x01\x00" else 4, "little") + text + data


def tree_entry(root=None, arrays: dict | None = None, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps({"format": serialization.FORMAT, "root": root,
                                                   "arrays": arrays or {}}).encode()
    return npy(np.frombuffer(text, dtype=np.uint8))


def table_of(**arrays) -> dict:
    return {name: {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": serialization._digest(a)}
            for name, a in arrays.items()}


def archive(entries, compression=zipfile.ZIP_STORED) -> bytes:
    """A zip of ``(name, bytes)`` entries (duplicates allowed)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", compression) as handle:
            for name, data in entries:
                handle.writestr(name, data)
    return buffer.getvalue()


def nested(depth: int, kind: str) -> bytes:
    """A tree entry whose root is ``depth`` containers of ``kind`` around ``1`` (JSON text: too deep for json)."""
    opening, closing = {"list": ("[", "]"), "tuple": ('{"__tuple__": [', "]}"),
                        "dict": ('{"__dict__": [["k", ', "]]}")}[kind]
    text = (f'{{"format": "{serialization.FORMAT}", "arrays": {{}}, "root": ' + opening * depth + "1"
            + closing * depth + "}")
    return tree_entry(raw=text.encode())


def deflated_zeros(name: str, header: str, nbytes: int) -> bytes:
    """A zip whose entry ``name`` is a ``.npy`` header and ``nbytes`` zeros, deflated (a decompression bomb)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as handle:
        with handle.open(name, "w", force_zip64=True) as entry:
            entry.write(raw_npy(header))
            chunk, left = bytes(min(nbytes, 1 << 24)), nbytes
            while left:
                entry.write(chunk[:left])
                left -= min(left, len(chunk))
    return buffer.getvalue()


def bomb(nbytes: int) -> bytes:
    """A strided file whose one array is ``nbytes`` zeros, deflated (a decompression bomb; its table is right)."""
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({nbytes},), }}\n"
    table = {"a0": {"dtype": "|u1", "shape": [nbytes], "sha256": serialization._digest(np.zeros(nbytes, np.uint8))}}
    buffer = io.BytesIO(deflated_zeros("a0.npy", header, nbytes))
    with zipfile.ZipFile(buffer, "a") as handle:
        handle.writestr("__tree__.npy", tree_entry({"__array__": "a0"}, table))
    return buffer.getvalue()


def crafted(bomb_bytes: int):
    """``(case, bytes)`` of hand-made hostile files; every one must be refused."""
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    good_tree = tree_entry({"__dict__": [["w", {"__array__": "a0"}]]}, table_of(a0=w))
    yield "nested 5,000 lists deep", archive([("__tree__.npy", nested(5000, "list"))])
    yield "nested 5,000 dicts deep", archive([("__tree__.npy", nested(5000, "dict"))])
    yield "nested 101 tuples deep", archive([("__tree__.npy", nested(101, "tuple"))])
    yield "nested 100,000 brackets", archive([("__tree__.npy", tree_entry(raw=b"[" * 100000))])
    big = {"a0": {"dtype": "<f4", "shape": [10 ** 12], "sha256": "0" * 64}}
    yield "declared shape 10**12", archive([
        ("__tree__.npy", tree_entry({"__array__": "a0"}, big)),
        ("a0.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }\n"))])
    yield "declared shape 10**12, no table", archive([
        ("__tree__.npy", tree_entry(raw=b'{"format": "strided-state/1", "root": {"__array__": "a0"}}')),
        ("a0.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }\n"))])
    yield "shape product overflows int64", archive([("__tree__.npy", tree_entry({"__array__": "a0"})), (
        "a0.npy", raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n"))])
    yield f"deflated zeros inflating to {bomb_bytes:,} bytes", bomb(bomb_bytes)
    for descr in ("|O", "<c16", "<M8[D]", "<U3", "|S4", "|V8", "<m8[s]"):
        yield f"dtype {descr}", archive([("__tree__.npy", tree_entry({"__array__": "a0"})), (
            "a0.npy", raw_npy(f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}\n", bytes(16)))])
    yield "a pickled object array", archive([("__tree__.npy", tree_entry({"__array__": "a0"})),
                                             ("a0.npy", npy(np.array([print], dtype=object)))])
    yield "structured dtype", archive([("__tree__.npy", tree_entry({"__array__": "a0"})),
                                       ("a0.npy", npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))])
    yield "Fortran order", archive([("__tree__.npy", tree_entry({"__array__": "a0"}, table_of(a0=w))),
                                    ("a0.npy", npy(np.asfortranarray(w)))])
    for case, text in (("header length 0xFFFF", None), ("header without newline", "{'descr': '<f4', "
                       "'fortran_order': False, 'shape': (3, 4), }"), ("header with a call", "{'descr': "
                       "__import__('os').getcwd(), 'fortran_order': False, 'shape': (3, 4), }\n"),
                       ("header declaring negative size", "{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (-3, -4), }\n")):
        body = (b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100) if text is None else raw_npy(text, w.tobytes())
        yield case, archive([("__tree__.npy", good_tree), ("a0.npy", body)])
    yield ".npy version 3.0", archive([("__tree__.npy", good_tree), ("a0.npy", raw_npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }\n", w.tobytes(), b"\x03\x00"))])
    changed = w.copy()
    changed[1, 2] = 99
    yield "data changed, CRC recomputed", archive([("__tree__.npy", good_tree), ("a0.npy", npy(changed))])
    yield "data longer than its header", archive([("__tree__.npy", good_tree), ("a0.npy", npy(w) + b"\0" * 4)])
    yield "the same entry twice", archive([("__tree__.npy", good_tree), ("a0.npy", npy(w)), ("a0.npy", npy(w))])
    yield "an entry outside the structure", archive([("__tree__.npy", good_tree), ("a0.npy", npy(w)),
                                                      ("../a1.npy", npy(w))])
    yield "a reference without its entry", archive([("__tree__.npy", good_tree)])
    yield "an array referred to twice", archive([("__tree__.npy", tree_entry(
        [{"__array__": "a0"}, {"__array__": "a0"}], table_of(a0=w))), ("a0.npy", npy(w))])
    yield "a reference to the tree", archive([("__tree__.npy", tree_entry({"__array__": "__tree__"}))])
    for case, raw in (("tree not JSON", b"{not json"), ("tree not UTF-8", b'{"format": "\xff\xfe"}'),
                      ("tree a list", b"[1, 2]"), ("another format", b'{"format": "pickle/1", "root": 1}'),
                      ("no root", b'{"format": "strided-state/1"}'),
                      ("an unknown node", b'{"format": "strided-state/1", "root": {"__eval__": "1+1"}}'),
                      ("a float node not a number", b'{"format": "strided-state/1", "root": {"__float__": "x"}}'),
                      ("an integer of 5,000 digits", b'{"format": "strided-state/1", "root": ' + b"9" * 5000 + b"}"),
                      ("a dict key twice", b'{"format": "strided-state/1", "root": {"__dict__": [["a", 1], '
                       b'["a", 2]]}}'),
                      ("a dict key a list", b'{"format": "strided-state/1", "root": {"__dict__": [[[1], 1]]}}'),
                      ("a table entry malformed", b'{"format": "strided-state/1", "root": 1, "arrays": '
                       b'{"a0": {"dtype": 3}}}')):
        yield case, archive([("__tree__.npy", tree_entry(raw=raw))])
    yield "a table that lies about the shape", archive([("__tree__.npy", tree_entry(
        {"__array__": "a0"}, table_of(a0=w.reshape(4, 3)))), ("a0.npy", npy(w))])
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        yield f"compression method {method}", archive([("__tree__.npy", good_tree), ("a0.npy", npy(w))], method)
    encrypted = bytearray(archive([("__tree__.npy", good_tree), ("a0.npy", npy(w))]))
    at = encrypted.find(b"PK\x01\x02")
    while at >= 0:
        encrypted[at + 8] |= 1                           # central directory: general-purpose flag, bit 0
        at = encrypted.find(b"PK\x01\x02", at + 4)
    yield "entries flagged encrypted", bytes(encrypted)
    yield "an empty file", b""
    yield "zeros", bytes(4096)
    yield "a single .npy array", npy(w)
    yield "a pickle", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x05print\x94\x93\x94."
    yield "a zip of text", archive([("readme.txt", b"hello")])
    yield "a zip whose directory points past its end", archive([("__tree__.npy", good_tree)])[:-22] + (
        b"PK\x05\x06" + bytes(4) + (1).to_bytes(2, "little") * 2 + (10 ** 6).to_bytes(4, "little") * 2 + bytes(2))


def safetensors_file(folder) -> tuple[bytes, dict]:
    pytest.importorskip("safetensors")
    state = {"weight": np.arange(20, dtype=np.float32).reshape(4, 5), "bias": np.array([1.5, -2], np.float64),
             "count": np.array(7, dtype=np.int64), "mask": np.array([True, False])}
    path = os.path.join(folder, "saved.safetensors")
    st.io.save_safetensors(state, path)
    with open(path, "rb") as handle:
        return handle.read(), OrderedDict((k, state[k]) for k in sorted(state))


def safetensors_crafted(good: bytes):
    """Malformed safetensors files: header lengths, JSON, offsets, dtypes, shapes."""
    def file(header, data=b"", length=None):
        text = header if isinstance(header, bytes) else json.dumps(header).encode()
        return (len(text) if length is None else length).to_bytes(8, "little") + text + data
    tensor = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    yield "header length 2**64 - 1", file(b"{}", length=2 ** 64 - 1)
    yield "header length past the end", file(b"{}", length=1000)
    yield "shorter than its length field", b"\x05\x00\x00"
    yield "header not JSON", file(b"{nope")
    yield "header a list", file(b"[1, 2, 3]")
    yield "header nested 5,000 deep", file(b"[" * 5000 + b"]" * 5000)
    yield "offsets past the data", file({"a": {**tensor, "data_offsets": [0, 1 << 40]}}, bytes(16))
    yield "offsets overlapping", file({"a": tensor, "b": {**tensor, "data_offsets": [8, 24]}}, bytes(24))
    yield "offsets leaving a gap", file({"a": {**tensor, "data_offsets": [4, 20]}}, bytes(20))
    yield "shape disagreeing with offsets", file({"a": {**tensor, "shape": [3, 2]}}, bytes(16))
    yield "shape overflowing", file({"a": {**tensor, "shape": [2 ** 62, 2 ** 62]}}, bytes(16))
    yield "negative shape", file({"a": {**tensor, "shape": [-2, -2]}}, bytes(16))
    yield "unknown dtype", file({"a": {**tensor, "dtype": "X99"}}, bytes(16))
    yield "metadata not strings", file({"__metadata__": {"k": [1]}, "a": tensor}, bytes(16))
    yield "a checksum wrong", file({"__metadata__": {"strided.sha256": json.dumps({"a": "0" * 64})}, "a": tensor},
                                   bytes(16))
    yield "checksums not JSON", file({"__metadata__": {"strided.sha256": "{"}, "a": tensor}, bytes(16))
    yield "checksums for other names", file({"__metadata__": {"strided.sha256": "{}"}, "a": tensor}, bytes(16))
    yield "a strided state file", good[:0] + b"PK\x03\x04" + bytes(100)


# ------------------------------------------------------------------------------------- the corpus
def build_and_run(folder, full: bool = False) -> Tally:
    """Generate every case and load it; ``full``: every byte and length of the larger (Adam) checkpoint too."""
    tally = Tally()
    small, small_back = saved_bytes(small_checkpoint(adam=False), folder)
    run_corpus(folder, tally, "truncation", small, truncations(small, 1 if full else 5), st.load, small_back)
    run_corpus(folder, tally, "single-byte flip", small, byte_flips(small, seed=1), st.load, small_back)
    run_corpus(folder, tally, "header-length bit flip", small, header_length_flips(small), st.load, small_back)
    if full:
        large, large_back = saved_bytes(small_checkpoint(adam=True), folder, "large.npz")
        run_corpus(folder, tally, "truncation (Adam checkpoint)", large, truncations(large), load_checkpoint,
                   large_back)
        run_corpus(folder, tally, "single-byte flip (Adam checkpoint)", large, byte_flips(large, seed=2),
                   load_checkpoint, large_back)
    run_corpus(folder, tally, "crafted structure", b"", crafted(2 ** 30 if full else 2 ** 26), st.load, REFUSE)
    good, good_back = safetensors_file(folder)
    load = st.io.load_safetensors
    run_corpus(folder, tally, "safetensors truncation", good, truncations(good), load, good_back)
    run_corpus(folder, tally, "safetensors single-byte flip", good, byte_flips(good, seed=3), load, good_back)
    run_corpus(folder, tally, "safetensors crafted", good, safetensors_crafted(good), load, REFUSE)
    return tally


def test_every_hostile_file_is_refused_clearly_or_loads_exactly(tmp_path, capsys):
    tally = build_and_run(str(tmp_path))
    with capsys.disabled():
        print("\n" + tally.table())
    assert not tally.failures, "\n".join(tally.failures)
    flips = tally.counts["single-byte flip"]
    assert flips["refused"] > 0.9 * sum(flips.values())           # nearly every byte of the file is checked


@pytest.mark.slow
def test_every_byte_and_length_of_a_larger_checkpoint(tmp_path, capsys):
    tally = build_and_run(str(tmp_path), full=True)
    with capsys.disabled():
        print("\n" + tally.table())
    assert not tally.failures, "\n".join(tally.failures)


def test_the_issue_reproductions_are_refused_by_name(tmp_path):
    """The three defects of issue 15 as it describes them, each a ValueError naming file and cause."""
    w = np.random.default_rng(0).standard_normal((40, 40)).astype(np.float32)        # 6.4 kB
    data, _ = saved_bytes({"w": w, "b": np.zeros(3)}, str(tmp_path))
    at = data.find(b"\x93NUMPY", data.find(b"a0.npy"))
    changed = bytearray(data)
    changed[at + 8] ^= 0x20                     # the header length grows by 32: data would shift by 32 bytes
    path = tmp_path / "shifted.npz"
    path.write_bytes(bytes(changed))
    with pytest.raises(ValueError, match=f"{path}.*a0.npy"):
        st.load(path)
    path = tmp_path / "deep.npz"
    path.write_bytes(archive([("__tree__.npy", nested(5000, "list"))]))
    with pytest.raises(ValueError, match=f"{path}.*nested deeper than {serialization.MAX_DEPTH}"):
        st.load(path)
    path = tmp_path / "bomb.npz"
    path.write_bytes(bomb(2 ** 26))                # 64 MiB of zeros in 65 kB
    with pytest.raises(ValueError, match=f"{path}.*inflate.*max_bytes=None"):
        st.load(path)
    with pytest.raises(ValueError, match="more than max_bytes=1,000"):
        st.load(path, max_bytes=1000)
    assert st.load(path, max_bytes=None).tobytes() == bytes(2 ** 26)       # a trusted file: the bounds lifted


def test_a_checkpoint_flipped_in_its_weights_never_resumes(tmp_path):
    """A changed weight byte is refused naming the file: by the zip CRC, and by the SHA-256 where the CRC
    was recomputed around the change (the data shifted by a flipped header length passes the CRC)."""
    state = small_checkpoint(adam=False)
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, state)
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as handle:
        entries = [(name, handle.read(name)) for name in handle.namelist()]
    weight = npy(state["model"]["3.weight"])
    changed = bytearray(weight)
    changed[len(weight) // 2] ^= 0x01
    at = data.find(weight)
    path.write_bytes(data[:at] + bytes(changed) + data[at + len(weight):])
    with pytest.raises(ValueError, match=f"{path}.*CRC-32"):
        load_checkpoint(path)
    path.write_bytes(archive([(name, bytes(changed) if body == weight else body) for name, body in entries]))
    with pytest.raises(ValueError, match=f"{path}.*SHA-256"):
        load_checkpoint(path)


def main(argv) -> int:
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        tally = build_and_run(folder, full="--full" in argv)
    print(tally.table())
    for failure in tally.failures:
        print("FAILED", failure)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
