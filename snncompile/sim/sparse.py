"""The emulator's rule for hw.Sparse: Lava's PySparseModelBitAcc product on a CSR matrix, never
densified (a 100k x 100k layer of fan-in 100 is 10M stored weights, not 10G).

Event-driven: for every non-zero input of a row (a spike, or an analog payload q), its column of
the effective weights (W.T in CSR, n_in x n_out) is added, times q, into the row's int64
accumulator (a numba loop: work is spikes x fan-out, not n_in x n_out), then Dense's weight_exp
shift and int32 wrap (int_weights.IntWeights does the same for Dense). Measured against scipy's
sparse x sparse product (2048 x 2048, 512 rows, densities 1/4..1/128, spike rates 0.02 and 0.1)
scipy was 2-20x slower than the dense int8 product; this loop is what makes sparse pay. On the
100k x fan-in 100 benchmark layer (one thread, loaded machine, one run each), 8 / 64 / 64 rows
at spike rates 0.05 / 0.05 / 0.01: this loop 195 / 1,131 / 297 ms, scipy's sparse x sparse
product 371 / 2,865 / 837 ms, torch's sparse CSR float32 matmul 323 / 1,505 / 1,754 ms, all
three equal. Graded
inputs (num_message_bits > 0) take Lava's weights.dot(s_in) in int64, wrapped to int32 as
Lava's int32 product does (sigma_delta.graded_dense's rule).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.sim.fixed import Event
from snncompile.sim.lava_params import effective_weights


def csr_of(op: hw.Sparse, values: np.ndarray | None = None) -> Any:
    """The op's matrix as a scipy CSR matrix (n_out, n_in) of `values` (default: its weights),
    sharing the op's index arrays."""
    from scipy.sparse import csr_matrix

    data = op.weights if values is None else values
    return csr_matrix((data, op.indices, op.indptr), shape=tuple(op.matrix_shape), copy=False)


def _scatter(rows, indptr, indices, data, e, pre_wrap, out):
    """out[r] = wrap32(shift(sum over non-zero rows[r, j] of rows[r, j] * column j, e)), the
    matrix W.T as CSR (indptr, indices, data) over its n_in rows, summed in int64 (wrapped to
    int32 before the shift if pre_wrap: Lava's int32 dot of graded values); out (m, n_out)
    int32."""
    m, n_in = rows.shape
    acc = np.zeros(out.shape[1], np.int64)
    for r in range(m):
        acc[:] = 0
        for j in range(n_in):
            x = np.int64(rows[r, j])
            if x != 0:
                for k in range(indptr[j], indptr[j + 1]):
                    acc[indices[k]] += x * data[k]
        for i in range(acc.shape[0]):
            a = acc[i]
            if pre_wrap:
                a = ((a + 2147483648) & 4294967295) - 2147483648
            a = a << e if e > 0 else a >> -e
            out[r, i] = ((a + 2147483648) & 4294967295) - 2147483648


@functools.cache
def _compiled_scatter():
    import numba

    return numba.njit(cache=True, nogil=True)(_scatter)


class SparseSynapse:
    """emulator rule for hw.Sparse (the interface of synapses._Synapse: register, product,
    receive)."""

    def __init__(self, name: str, op: hw.Sparse, in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...], batch: int):
        self.name, self.op, self.in_shape = name, op, in_shape
        self.register = np.zeros((batch, int(np.prod(out_shape))), dtype=np.int64)
        self.payload_max = 1
        self.graded = False
        n_in = int(op.matrix_shape[1])
        if int(np.prod(in_shape)) != n_in:
            raise GraphCheckError(f"emulator: Sparse {name!r} has {n_in} inputs, its source "
                                  f"gives {int(np.prod(in_shape))}")
        self.values = effective_weights(op)
        wt = csr_of(op, self.values).T.tocsr()  # (n_in, n_out): one column of W per input
        self.wt = (np.ascontiguousarray(wt.indptr, np.int64),
                   np.ascontiguousarray(wt.indices, np.int64),
                   np.ascontiguousarray(wt.data, np.int64))
        self.e = int(op.weight_exp)

    def product(self, rows: np.ndarray) -> np.ndarray:
        """rows (m, n_in) of 0/1 (or an analog input's int8 payloads) -> the wrapped a_out
        register (m, n_out) int32."""
        return self._run(rows, False)

    def _run(self, rows: np.ndarray, pre_wrap: bool) -> np.ndarray:
        rows = np.ascontiguousarray(rows)
        if rows.dtype == np.bool_:
            rows = rows.view(np.int8)
        out = np.empty((len(rows), int(self.op.matrix_shape[0])), np.int32)
        _compiled_scatter()(rows, *self.wt, self.e, pre_wrap, out)
        return out

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        flat = s.reshape(len(s), -1)
        if self.graded:  # int32 values: Lava's int32 dot, then the shift
            self.register = self._run(flat.astype(np.int64), True).astype(np.int64)
            return
        self.register = self.product(flat)
