"""Floor centring: the bias that cancels, on average, what Lava's shift drops from a fan-in sum.

A Dense with weight_exp e < 0 delivers floor(sum * 2^e) each step: low by the fraction
(sum mod 2^-e) / 2^-e in [0, 1) a_in units, and by nothing on a step whose sum has no low bits
(no active input, or only inputs whose weights sit on the 2^-e grid). The expected loss is
therefore about 1/2 unit times the chance that the sum has low bits, which depends on how often
the synapse's inputs are active: a dense layer loses ~1/2 unit a step, a sparse one much less.

Data-free (`data_free`), the quantize pass adds half a unit per synapse whose shift drops bits
of its sums (fine twins included): about the loss of a synapse active every step.
With calibration input (`activity_of`: each source's spikes or graded payloads under the float
model) it adds each neuron's measured mean loss instead (`measured_loss`): exact for that data,
near zero where the inputs are rarely active. docs/semantics.md, "Floor centring".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from snncompile.passes.encode import WeightCode, floors_sums

ROWS = 4096  # calibration steps per product: temporaries stay small on wide layers


def data_free(codes: list[WeightCode], fines: list[WeightCode | None]) -> float:
    """a_in units of bias that centre the data synapses' floors without data: half a unit per
    synapse (or fine twin) whose shift drops bits (`floors_sums`), about the loss of a synapse
    whose sum carries low bits every step (with --weight-split: the SEW-ResNet example's output
    spike-train agreement 0.768 -> 0.832). Counting the bits a shift really drops instead
    ((1 - 2^-k) / 2) was measured and not kept (benchmarks/floor_centring.py, docs/semantics.md)."""
    return 0.5 * sum(int(floors_sums(code)) + int(fine is not None and floors_sums(fine))
                     for code, fine in zip(codes, fines))


def measured_loss(weights: np.ndarray, weight_exp: int, rows: np.ndarray,
                  delays: np.ndarray | None = None) -> np.ndarray:
    """Per target neuron, the mean a_in units Lava's shift drops per step when the synapse
    (integer weights (n_out, n_in), its weight_exp) reads `rows` (steps, n_in) of spikes or
    graded payloads. A DelayDense shifts each delay's sum on its own (sim/emulator.py), so each
    delay group floors separately; its rows are not shifted in time (the mean over the steps is
    the same up to the run's ends)."""
    n_out = weights.shape[0]
    if weight_exp >= 0 or len(rows) == 0:
        return np.zeros(n_out)
    groups = ([weights] if delays is None else
              [np.where(np.asarray(delays) == k, weights, 0) for k in np.unique(delays)])
    mask, unit = (1 << -weight_exp) - 1, float(1 << -weight_exp)
    total = np.zeros(n_out)
    for w in groups:
        wt = np.ascontiguousarray(np.asarray(w, np.int64).T)
        for a in range(0, len(rows), ROWS):
            acc = np.asarray(rows[a:a + ROWS], np.int64) @ wt
            total += np.bitwise_and(acc, mask).sum(axis=0) / unit  # two's complement: sum mod
    return total / len(rows)


def sparse_loss(op: Any, code: WeightCode, rows: np.ndarray) -> np.ndarray:
    """measured_loss of a sparse synapse (a GroupedSparse's CSR, its stored values encoded in
    `code`), by a sparse product: its dense matrix is never made."""
    import scipy.sparse as sp

    mask, unit = (1 << -code.weight_exp) - 1, float(1 << -code.weight_exp)
    w = sp.csr_array((np.asarray(code.weights, np.int64), op.indices, op.indptr),
                     shape=tuple(op.matrix_shape))
    total = np.zeros(w.shape[0])
    for a in range(0, len(rows), ROWS):
        acc = np.asarray(w @ np.asarray(rows[a:a + ROWS], np.int64).T).T
        total += np.bitwise_and(acc, mask).sum(axis=0) / unit
    return total / len(rows)


def calibrated(syns: list[Any], codes: list[WeightCode], fines: list[WeightCode | None],
               activity: Mapping[str, np.ndarray], n: int) -> np.ndarray | None:
    """Per neuron, the a_in units of bias that centre the floors of the layer's data synapses
    `syns` (Incoming) on the calibration `activity`, or None if a flooring synapse's source has
    none (then the data-free rule applies to the whole layer)."""
    total = np.zeros(n)
    for s, code, fine in zip(syns, codes, fines):
        for c in (code, fine):
            if c is None or not floors_sums(c):
                continue
            rows = activity.get(s.source)
            sparse = getattr(s.op, "indptr", None) is not None  # GroupedSparse: stored values
            width = s.op.matrix_shape[1] if sparse else c.weights.shape[1]
            if rows is None or rows.shape[1] != width:
                return None
            total += (sparse_loss(s.op, c, rows) if sparse else
                      measured_loss(c.weights, c.weight_exp, rows, getattr(s.op, "delays", None)))
    return total


def activity_of(nn_graph: Any, x: np.ndarray,
                recorded: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Each node's output under the float model on calibration input x (batch, time,
    *input_shape), as rows (batch * time, n): the input as the chip receives it (an analog
    input's int8 payloads, else its spikes), every other node as the reference records it
    (`recorded`: that reference run with record=True, if already made)."""
    from snncompile.passes.analog import analog_input
    from snncompile.sim.reference import run_reference

    x = np.asarray(x, np.float64)
    if recorded is None:
        recorded = run_reference(nn_graph, x, record=True)
    (inp,) = nn_graph.inputs
    analog = analog_input(nn_graph.meta)
    payload = analog.quantize(x) if analog is not None else x
    rows = {name: np.asarray(out).reshape(out.shape[0] * out.shape[1], -1)
            for name, out in recorded.items() if np.ndim(out) >= 2 and ":" not in name}
    rows[inp] = np.asarray(payload).reshape(x.shape[0] * x.shape[1], -1)
    return {name: r.astype(np.int64) for name, r in rows.items()  # spikes and payloads only
            if np.array_equal(r, np.rint(r))}
