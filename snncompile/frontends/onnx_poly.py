"""Polynomials over a stepwise ONNX graph's tensors, so a neuron update is recognised by its
algebra, not by the order of the nodes that wrote it.

A value is a sum of monomials, each a coefficient (an array broadcast over the per-sample shape)
times a product of atoms: ("n", node) an nn node's output, ("s", name) a state input (a
membrane of the previous step), ("r", name) the spike a state input held, [state > threshold].
Spike atoms are 0/1, so their product with themselves is themselves (IAND's a * (1 - b) expands
to a - a b and AND to a b). Addition and multiplication are exact in real arithmetic; the
coefficients are those the graph's constants give, compared exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Atom = tuple[str, str]
Monomial = tuple[Atom, ...]
# A neuron update or gate is of degree <= 3 with a few terms per input; repeated squaring of a
# sum doubles the degree and the terms each time (a 12-node file hung the reader): refused.
MAX_DEGREE = 8
MAX_PRODUCTS = 1 << 16  # term pairs one product may multiply


def _shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


class Poly:
    """terms: monomial -> coefficient array; () is the constant term. shape: per-sample shape."""

    def __init__(self, terms: dict[Monomial, np.ndarray], shape: tuple[int, ...]):
        self.terms = {m: np.asarray(c, dtype=np.float64) for m, c in terms.items()
                      if np.any(np.asarray(c) != 0)}
        self.shape = tuple(shape)

    @staticmethod
    def atom(atom: Atom, shape: tuple[int, ...]) -> Poly:
        return Poly({(atom,): np.array(1.0)}, shape)

    @staticmethod
    def const(value: np.ndarray, shape: tuple[int, ...]) -> Poly:
        """A constant next to a tensor of per-sample `shape` (a leading batch axis of 1 is
        dropped; ValueError if it does not broadcast)."""
        value = np.asarray(value, dtype=np.float64)
        while value.ndim > len(shape) and value.shape[0] == 1:
            value = value[0]
        return Poly({(): value}, _shape(shape, value.shape))

    def atoms(self) -> set[Atom]:
        return {a for m in self.terms for a in m}

    def __add__(self, other: Poly) -> Poly:
        terms = dict(self.terms)
        for m, c in other.terms.items():
            terms[m] = terms[m] + c if m in terms else c
        return Poly(terms, _shape(self.shape, other.shape))

    def __neg__(self) -> Poly:
        return Poly({m: -c for m, c in self.terms.items()}, self.shape)

    def __sub__(self, other: Poly) -> Poly:
        return self + (-other)

    def times(self, other: Poly, binary: Callable[[Atom], bool]) -> Poly:
        """The product; a binary atom times itself is itself. ValueError past MAX_DEGREE or
        MAX_PRODUCTS (no neuron form is that large)."""
        pairs = len(self.terms) * len(other.terms)
        if pairs > MAX_PRODUCTS:
            raise ValueError(f"the product of sums of {len(self.terms)} and {len(other.terms)} "
                             f"terms is over {MAX_PRODUCTS} term products; no neuron update is")
        terms: dict[Monomial, np.ndarray] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                atoms = list(m1) + [a for a in m2 if not (binary(a) and a in m1)]
                if len(atoms) > MAX_DEGREE:
                    raise ValueError(f"a product of {len(atoms)} tensors is over degree "
                                     f"{MAX_DEGREE}; no neuron update is")
                m = tuple(sorted(atoms))
                terms[m] = terms[m] + c1 * c2 if m in terms else c1 * c2
        return Poly(terms, _shape(self.shape, other.shape))

    def constant(self) -> np.ndarray:
        return self.terms.get((), np.array(0.0))

    def without_constant(self) -> Poly:
        return Poly({m: c for m, c in self.terms.items() if m}, self.shape)

    def equals(self, other: Poly) -> bool:
        if set(self.terms) != set(other.terms):
            return False
        shape = _shape(self.shape, other.shape)
        return all(np.array_equal(np.broadcast_to(c, shape), np.broadcast_to(other.terms[m], shape))
                   for m, c in self.terms.items())


def is_one(coefficient: np.ndarray, value: float = 1.0) -> bool:
    return bool(np.all(np.asarray(coefficient) == value))
