"""Which compiled kernels an op really ran: a spy for the tests of the compiled path."""

from __future__ import annotations


def spy_kernels(monkeypatch, compute_path: str, family: str, names) -> list:
    """A list that records, in call order, each call to the kernels ``names`` of
    ``fast/<family>.py`` on the compiled path (``compute_path == "numba"``); on NumPy it stays
    empty and nothing is patched (nor Numba imported)."""
    calls: list = []
    if compute_path != "numba":
        return calls
    from strided import fast
    kernels = fast.kernels(family)
    for name in names:
        monkeypatch.setattr(kernels, name, lambda *a, _real=getattr(kernels, name), _k=name: calls.append(_k) or _real(*a))
    return calls
