"""Layer-major emulation of feed-forward hw graphs: the integers of emulator.simulate, faster.

emulator.simulate steps time in the outer loop, so every synapse does one small matrix product
per step and every LIF ~25 small numpy operations per step. Without recurrent edges every
population's whole spike train is known before its consumers run, so this module walks the graph
in schedule order instead: each Dense or Conv handles all (batch x steps) rows in one product
(row t + 1 of its register is its source's step t), and a LIF's input-only work (a_in << 6, and
with du = 4095 the whole current u, whose update then has no state) is vectorized over time, so
the remaining loop over time carries only v. Same formulas, same wraps (hw_ops.LIF, emulator
_LIF.step); a wrap the value range cannot reach is skipped after checking the range.

Used by emulator.simulate when `applicable` holds (no strict-mode events, no initial state, no
recurrence, plain LIF populations fed only through Dense / Conv / DelayDense); else it steps.
tests/test_fast_emulator.py compares both paths on random graphs; the fpga cosims compare this
path with the RTL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.fixed import U_MAX, V_MAX, SimTrace, decay, wrap

BATCHED = ("_Dense", "_Conv")  # synapse rules whose receive() is row-wise (no state)
INT32_MAX = 2**31 - 1


def applicable(g: Graph, strict: bool, initial_state: Any) -> bool:
    if strict or initial_state or g.recurrent_edges:
        return False
    for n, op in g.nodes.items():
        if op.kind == "neuron":
            if type(op) is not hw.LIF or op.heterogeneous or op.reset == "subtract_next":
                return False  # per-neuron du/dv/vth, delayed subtraction: stepwise
            if any(type(g.nodes[p]) not in (hw.Dense, hw.Conv, hw.DelayDense)
                   for p in g.predecessors(n)):
                return False
    return True


def _dense_bound(synapse: Any) -> int | None:
    """A bound on |register| of a Dense whose float32 products are exact (every partial sum of
    binary inputs times its integer weights below 2^24), or None."""
    wt = synapse.wt
    peak = int(max(np.clip(wt, 0, None).sum(axis=0).max(initial=0),
                   -np.clip(wt, None, 0).sum(axis=0).min(initial=0)))
    if peak >= 2**24:
        return None
    e = synapse.op.weight_exp
    return peak << e if e > 0 else -((-peak) >> -e)  # the floor shift rounds -peak away from 0


def _conv_peak(synapse: Any) -> int:
    """The largest |partial sum| of binary inputs times a Conv's kernel (per output channel)."""
    w = synapse.w.numpy()
    flat = w.reshape(len(w), -1)
    return int(max(np.clip(flat, 0, None).sum(axis=1).max(initial=0),
                   -np.clip(flat, None, 0).sum(axis=1).min(initial=0)))


def _register(synapse: Any, s: np.ndarray) -> tuple[np.ndarray, int | None]:
    """What the synapse's neurons read at each hw step, (steps, batch, n_out) int64, for source
    spikes s (steps, batch, n_src) bool (step 1 reads the zero initial register), and a bound on
    its magnitude when one is known without looking."""

    steps, batch = s.shape[:2]
    out = np.zeros((steps, batch, synapse.register.shape[1]), np.int64)
    if steps < 2:
        return out, 0
    rows = s[:-1].reshape((steps - 1) * batch, -1)
    kind = type(synapse).__name__
    bound = _dense_bound(synapse) if kind == "_Dense" else None
    if bound is not None:
        # float32 products are exact here, with half the memory traffic of float64
        acc = (rows.astype(np.float32) @ synapse.wt.astype(np.float32)).astype(np.int64)
        e = synapse.op.weight_exp
        acc = acc << e if e > 0 else acc >> -e
        if bound >= 2**31:  # the int32 a_out channel
            acc, bound = wrap(acc, 32), None
        out[1:] = acc.reshape(steps - 1, batch, -1)
    elif kind == "_Conv" and _conv_peak(synapse) < 2**23:
        # float32 conv is exact (partial sums < 2^24) and cannot reach the 24-bit wrap, provided
        # it sums products directly (oneDNN's direct or im2col + GEMM): NNPACK, which may pick a
        # Winograd transform (not exact), is switched off here
        op, torch = synapse.op, synapse.torch
        with torch.backends.nnpack.flags(enabled=False):
            y = torch.nn.functional.conv2d(
                torch.from_numpy(rows.reshape(len(rows), *synapse.in_shape).astype(np.float32)),
                synapse.w.float(), stride=op.stride, padding=op.padding, dilation=op.dilation,
                groups=op.groups)
        out[1:] = y.numpy().astype(np.int64).reshape(steps - 1, batch, -1)
        bound = _conv_peak(synapse)
    elif kind in BATCHED:  # row-wise rules: all (step, sample) rows in one call
        synapse.receive(rows.astype(np.float64), 0, None)
        out[1:] = synapse.register.reshape(steps - 1, batch, -1)
    else:  # stateful (DelayDense ring): step by step, as emulator.simulate does
        for t in range(1, steps):
            synapse.receive(s[t - 1].astype(np.float64), t, None)
            out[t] = synapse.register
    return out, bound


def _lif(neuron: Any, a: np.ndarray, bound: int | None, record: bool):
    """Run one LIF population (emulator._LIF) on its input a (steps, batch, n) int64 (|a| <=
    bound if given): spikes (steps, batch, n) bool and, with record, u and v (int32)."""

    op = neuron.op
    steps, batch, n = a.shape
    du, dv, vth, bias = neuron.Du, neuron.Dv, neuron.vth, neuron.bias
    a_max = int(np.abs(a).max(initial=0)) if bound is None else bound
    b_max = int(np.abs(bias).max(initial=0))
    u_rec = np.zeros((steps, batch, n), np.int32) if record else None
    v_rec = np.zeros((steps, batch, n), np.int32) if record else None
    # du = 4095: u = correct(a_in << 6) whatever the past (decay(u, 0) = 0); with |a| < 2^17,
    # |a_in << 6| < 2^23 needs no wrap nor correction, and if |u + bias| + V_MAX < 2^31 no wrap of
    # v1 = decay(v) + u + bias can happen either: only v is left to step, in exact float64
    if du == 0 and a_max < 2**17 and (a_max << 6) + b_max + V_MAX <= INT32_MAX:
        w = np.multiply(a, 64.0)
        w += bias
        spikes = _v_only(neuron, w, v_rec)
        if record:
            u_rec[:] = a << 6
        return spikes, u_rec, v_rec
    ain6 = a << 6 if a_max < 2**25 else wrap(wrap(a, 32) << 6, 32)
    spikes = np.zeros((steps, batch, n), bool)
    interval = int(op.reset_interval)
    phase = int(op.reset_offset) % interval if interval else -1
    u = np.zeros((batch, n), np.int64)
    v = np.zeros((batch, n), np.int64)
    for t in range(1, steps + 1):
        if interval and t % interval == phase:
            u, v = np.zeros_like(u), np.zeros_like(v)
        u1 = wrap(decay(u, du) + ain6[t - 1], 32)
        u = u1 - (2 * U_MAX) * (u1 > U_MAX) + (2 * U_MAX) * (u1 <= -U_MAX)  # one correction
        v = np.minimum(np.maximum(wrap(decay(v, dv) + u + bias, 32), -V_MAX), V_MAX)
        s = v > vth
        v = v - vth * s if op.reset == "subtract" else np.where(s, 0, v)
        spikes[t - 1] = s
        if record:
            u_rec[t - 1] = u
            v_rec[t - 1] = v
    return spikes, u_rec, v_rec


def _v_only(neuron: Any, w: np.ndarray, v_rec: np.ndarray | None) -> np.ndarray:
    """The v loop of a LIF whose u + bias is w (steps, batch, n) float64 for every step, with no
    wrap possible, using in-place ufuncs: every value is an integer below 2^37, which float64
    holds exactly; v * (Dv / 4096) is exact (a binary fraction) and trunc rounds toward zero as
    tz does. Returns spikes (steps, batch, n) bool."""

    op = neuron.op
    steps, batch, n = w.shape
    scale, vth = neuron.Dv / 4096.0, float(neuron.vth)
    interval = int(op.reset_interval)
    phase = int(op.reset_offset) % interval if interval else -1
    subtract = op.reset == "subtract"
    spikes = np.zeros((steps, batch, n), bool)
    v = np.zeros((batch, n), np.float64)
    for t in range(1, steps + 1):
        if interval and t % interval == phase:
            v.fill(0.0)
        if scale != 1.0:
            np.multiply(v, scale, out=v)
            np.trunc(v, out=v)
        v += w[t - 1]
        np.clip(v, -V_MAX, V_MAX, out=v)
        s = spikes[t - 1]
        np.greater(v, vth, out=s)
        if subtract:
            np.subtract(v, vth, out=v, where=s)
        else:
            np.copyto(v, 0.0, where=s)
        if v_rec is not None:
            v_rec[t - 1] = v
    return spikes


def simulate_layers(g: Graph, x: np.ndarray, steps: int, record: bool, syn: dict, lif: dict):
    """emulator.simulate for an `applicable` graph: the same SimTrace, computed layer by layer in
    time-major arrays (steps, batch, n), so each step's slice is contiguous.
    x: (batch, steps_in, *in_shape) bool; syn, lif: the emulator's prepared rule objects."""

    (in_name,) = g.inputs
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    flat = np.swapaxes(x.reshape(batch, steps_in, int(np.prod(x.shape[2:]))), 0, 1)[:steps]
    train = np.zeros((steps, batch, flat.shape[2]), bool)
    train[:len(flat)] = flat
    trains, regs = {in_name: train}, {}
    spikes, u, v = {}, {}, {}

    def batch_major(arr, dtype, name):
        return np.ascontiguousarray(np.swapaxes(arr, 0, 1), dtype=dtype).reshape(
            batch, steps, *shapes[name])

    for name in g.schedule:
        preds = g.predecessors(name)
        if name in syn:
            src = [trains[p] for p in preds]
            regs[name] = _register(syn[name], src[0] if len(src) == 1
                                   else np.logical_or.reduce(src))
        elif name in lif:
            a = sum(regs[p][0] for p in preds) if len(preds) > 1 else regs[preds[0]][0]
            bounds = [regs[p][1] for p in preds]
            bound = None if None in bounds else sum(bounds)
            s, un, vn = _lif(lif[name], a, bound, record)
            trains[name] = s
            spikes[name] = batch_major(s, np.int8, name)
            if record:
                u[name], v[name] = batch_major(un, np.int32, name), batch_major(vn, np.int32, name)
    for n in g.outputs:
        spikes[n] = spikes[g.predecessors(n)[0]]
    return SimTrace(steps, spikes, u, v, [], {})
