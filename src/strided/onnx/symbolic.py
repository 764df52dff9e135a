"""Sizes known only at run time: the batch axis of an imported graph, as a symbol.

An ONNX graph computes shapes (``Shape -> Gather -> Concat -> Reshape``); strided folds those
computations at load time from static shapes, and the one size that stays open, the batch axis
of each input (``dim_param: "N"``), is a ``Sym``: ``coef * N**k`` (a monomial, possibly in
several symbols). Products and exact quotients of monomials are monomials, so ``N * 400 // N``
is ``400`` and a ``Reshape`` to ``[N, -1]`` infers ``-1`` at load time; at run time the bound
symbols turn every folded shape into plain integers (``resolve``). A computation a monomial
cannot express (``N + 1``, ``N // 3`` when 3 does not divide it, comparing ``N`` with a number)
raises ``NotStatic``, which the loader reports as a node it cannot fold.
"""

from __future__ import annotations

import numbers

import numpy as np


class NotStatic(ValueError):
    """A value depends on a run-time size in a way a monomial cannot express."""


class Sym:
    """``coef * prod(name ** power)``, an integer size known at run time (``Sym("N") * 400``).

    >>> n = Sym("N")
    >>> (n * 400) // n, n * 2
    (400, 2*N)
    >>> (n * 6 // 3).evaluate({"N": 5})
    10
    """

    __slots__ = ("coef", "terms")

    def __init__(self, name: str | None = None, coef: int = 1, terms: tuple = ()):
        self.coef = int(coef)
        self.terms = ((name, 1),) if name is not None else tuple(terms)

    @staticmethod
    def _make(coef: int, terms: dict):
        terms = tuple(sorted((k, v) for k, v in terms.items() if v))
        if not terms or coef == 0:
            return int(coef) if coef or not terms else 0
        return Sym(coef=coef, terms=terms)

    # arithmetic --------------------------------------------------------------------------------
    def __mul__(self, other):
        if isinstance(other, Sym):
            terms = dict(self.terms)
            for k, v in other.terms:
                terms[k] = terms.get(k, 0) + v
            return Sym._make(self.coef * other.coef, terms)
        if _is_int(other):
            return Sym._make(self.coef * int(other), dict(self.terms))
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if _is_int(other):
            if other == 0 or self.coef % int(other):
                raise NotStatic(f"{self} // {other} depends on the run-time size")
            return Sym._make(self.coef // int(other), dict(self.terms))
        if isinstance(other, Sym):
            terms = dict(self.terms)
            for k, v in other.terms:
                terms[k] = terms.get(k, 0) - v
            if any(v < 0 for v in terms.values()) or self.coef % other.coef:
                raise NotStatic(f"{self} // {other} is not a whole size")
            return Sym._make(self.coef // other.coef, terms)
        return NotImplemented

    def __rfloordiv__(self, other):
        if _is_int(other) and other == 0:
            return 0
        raise NotStatic(f"{other} // {self} depends on the run-time size")

    __truediv__ = __floordiv__

    def __add__(self, other):
        if _is_int(other) and other == 0:
            return self
        if isinstance(other, Sym) and other.terms == self.terms:
            return Sym._make(self.coef + other.coef, dict(self.terms))
        raise NotStatic(f"{self} + {other} depends on the run-time size")

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1) * other

    def __rsub__(self, other):
        return (-1) * self + other

    def __neg__(self):
        return self * -1

    def __mod__(self, other):
        if _is_int(other) and other != 0 and self.coef % int(other) == 0:
            return 0
        raise NotStatic(f"{self} % {other} depends on the run-time size")

    # comparison: only equality is known ----------------------------------------------------------
    def __eq__(self, other):
        return isinstance(other, Sym) and other.coef == self.coef and other.terms == self.terms

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.coef, self.terms))

    def _order(self, other):
        raise NotStatic(f"comparing {self} with {other} depends on the run-time size")

    __lt__ = __le__ = __gt__ = __ge__ = _order

    def __bool__(self):
        return True                                                     # a size is never 0 here

    def __index__(self):
        raise NotStatic(f"{self} is known only at run time")

    def __int__(self):
        raise NotStatic(f"{self} is known only at run time")

    # evaluation --------------------------------------------------------------------------------
    def evaluate(self, bindings: dict) -> int:
        value = self.coef
        for name, power in self.terms:
            if name not in bindings:
                raise NotStatic(f"the size {name!r} is not bound")
            value *= bindings[name] ** power
        return int(value)

    def __repr__(self) -> str:
        body = "*".join(k if v == 1 else f"{k}**{v}" for k, v in self.terms)
        return body if self.coef == 1 else f"{self.coef}*{body}"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_symbolic(value) -> bool:
    """Whether a size, a shape or an array holds a ``Sym``."""
    if isinstance(value, Sym):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == object and any(isinstance(v, Sym) for v in value.flat)
    if isinstance(value, (tuple, list)):
        return any(is_symbolic(v) for v in value)
    return False


def size_product(values) -> int | Sym:
    """The product of sizes, ints and ``Sym`` alike (1 for none)."""
    total = 1
    for v in values:
        total = total * v
    return total


def evaluate_dim(value, bindings: dict) -> int:
    return value.evaluate(bindings) if isinstance(value, Sym) else int(value)


def evaluate_shape(shape, bindings: dict) -> tuple[int, ...]:
    return tuple(evaluate_dim(v, bindings) for v in shape)


def resolve(value, bindings: dict):
    """A constant with every ``Sym`` replaced by its bound size (int64); other arrays unchanged."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        flat = [v.evaluate(bindings) if isinstance(v, Sym) else v for v in value.flat]
        return np.array(flat, dtype=np.int64).reshape(value.shape)
    return value


def normalise(value: np.ndarray) -> np.ndarray:
    """An object array back to int64 when it holds no ``Sym`` any more."""
    if isinstance(value, np.ndarray) and value.dtype == object and not is_symbolic(value):
        return np.array([int(v) for v in value.flat], dtype=np.int64).reshape(value.shape)
    return value


def shape_text(shape) -> str:
    """``(N, 3, 224, 224)``."""
    return "(" + ", ".join(str(v) for v in shape) + (",)" if len(shape) == 1 else ")")


__all__ = ["Sym", "NotStatic", "is_symbolic", "size_product", "evaluate_dim", "evaluate_shape", "resolve",
           "normalise", "shape_text"]
