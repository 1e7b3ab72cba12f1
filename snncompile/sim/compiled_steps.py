"""The step-major emulation of emulator.simulate as one compiled loop: recurrent graphs and
strict mode at speed.

emulator.simulate steps time in the outer loop with a few Python calls per population and
synapse per step (about 2,000 calls for the braille RNN's 100 steps), which made recurrent
graphs slower than the float reference. Graphs of LIF and ATRLIF populations fed through Dense,
DelayDense, Sparse and Conv synapses (one source each: the input or a population), which covers
recurrence, bias clocks, learned delays, adaptation and strict mode, instead run here as one
numba loop per sample over every step, population and synapse (graph_kernel.graph_steps), in
the order simulate uses: each step every population reads its synapses' registers (filled the
step before) through kernels._lif_row or graph_kernel._atrlif_row, then every synapse fills its
register from this step's spikes.

A synapse's product follows the spikes, not the matrix size: a Dense adds the weight rows
(n_in, n_out) of the sources that spiked (or sent a payload), a Sparse the CSR columns, a Conv
each active input's kernel taps. The sums are exact integers (int32 where |w| * fan-in *
payload < 2^31, else int64), shifted by the weight exponent and wrapped to int32 per synapse as
_Dense.product does (a Conv's wrapped to 24 bits, its wraps counted as _Conv does); a DelayDense
is one such synapse per distinct delay d, whose sum waits d steps in a ring of registers (the
_DelayDense ring). A population's registers are summed in int64 and wrapped by the neuron
update, which equals the int32 wrapping sum. Strict mode's u wraps, v saturations and conv
wraps are counted per step and become the same Events, in the same order, as the stepwise
loop's.

From batched_steps.FROM_BATCH samples, graphs of narrow populations (the braille RNN) run
through batched_steps.block_steps instead: the same tables and integers, a block of samples per
vector (batched_steps says when it pays).

tests/test_compiled_steps.py compares this path with the Python stepwise loop (kept for every
other graph: sigma-delta populations, graded input, synapses summing several sources) on
random graphs of each kind, strict events included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim import batched_steps, graph_kernel, kernels
from snncompile.sim.fixed import Event, SimTrace
from snncompile.sim.identity_cache import IdentityCache
from snncompile.sim.lava_params import effective_weights

INPUTS = (hw.SpikeInput, hw.AnalogInput)  # exact types: a GradedInput feeds neurons directly
NEURONS = (hw.LIF, hw.ATRLIF)
SYNAPSES = (hw.Dense, hw.DelayDense, hw.Sparse, hw.Conv)
INT32_SUMS = 2**31  # |w| * fan-in * payload below this: int32 weights and sums, else int64
DENSE, SPARSE, CONV = 0, 1, 2  # the loop's synapse kinds
GEOM = 17  # a Conv's geometry fields (conv_scatter._conv_scatter)


def applicable(g: Graph) -> bool:
    """LIF and ATRLIF populations, each fed only by Dense / DelayDense / Sparse / Conv synapses
    whose one source is a population or the (spike or analog) input."""
    if type(g.nodes[g.inputs[0]]) not in INPUTS:
        return False
    for n, op in g.nodes.items():
        if op.kind == "neuron":
            if type(op) not in NEURONS:
                return False
            if any(type(g.nodes[p]) not in SYNAPSES for p in g.predecessors(n)):
                return False
        elif op.kind == "synapse":
            succ = g.successors(n)
            if type(op) not in SYNAPSES or len(g.predecessors(n)) != 1 or len(succ) != 1:
                return False
            if type(g.nodes[succ[0]]) not in NEURONS:
                return False
            if type(op) is hw.Conv and len(g.shapes[g.predecessors(n)[0]]) != 3:
                return False
    return True


class _Tables:
    """The synapses as the loop reads them: one row of `rows` per product (a DelayDense gives
    one per distinct delay), weights in one flat array, CSR indices in `idx`, Conv geometry."""

    def __init__(self) -> None:
        self.rows: list[list[int]] = []
        self.geom: list[list[int]] = []
        self.weights: list[np.ndarray] = []
        self.idx: list[np.ndarray] = []
        self.w_len = self.idx_len = 0
        self.wide = False
        self.names: list[str] = []  # the graph's synapse of each row

    def add(self, name: str, kind: int, w: np.ndarray, src: int, tgt: int, n_in: int,
            n_out: int, e: int = 0, delay: int = 0, fan_in: int = 0, payload: int = 1,
            csr: tuple[np.ndarray, np.ndarray] | None = None, geom: list[int] | None = None
            ) -> None:
        ptr = ind = 0
        if csr is not None:
            ptr, ind = self.idx_len, self.idx_len + len(csr[0])
            self.idx += [csr[0], csr[1]]
            self.idx_len += len(csr[0]) + len(csr[1])
        self.rows.append([kind, src, tgt, n_in, n_out, self.w_len, e, delay, ptr, ind])
        self.geom.append(geom or [1] * GEOM)
        self.weights.append(w.reshape(-1))
        self.w_len += w.size
        self.wide |= int(np.abs(w).max(initial=0)) * fan_in * payload >= INT32_SUMS
        self.names.append(name)


def conv_scatter_tables(op: hw.Conv, in_shape: tuple, out_shape: tuple, in_last: bool = False,
                        out_last: bool = False) -> tuple[list[int], np.ndarray, tuple]:
    """What conv_scatter._conv_scatter reads of a Conv: its geometry (GEOM ints; in_last /
    out_last: the source / target population is laid out channel-last), its kernel as
    (C / groups, kH, kW, O) int64 (output channels innermost) and its taps by input position
    (_reach). The stepwise loop's tables and conv_product's spike-by-spike product both use it."""
    w = np.asarray(op.weight, np.int64)
    geom = [*in_shape, *out_shape, *w.shape[2:], *op.stride, *op.padding, *op.dilation,
            op.groups, int(in_last), int(out_last)]
    return geom, np.ascontiguousarray(w.transpose(1, 2, 3, 0)), _reach(geom)


def _reach(geom: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """A Conv's taps by input position, as conv_scatter._conv_scatter reads them: (ptr (H*W + 1,),
    pairs (2 * taps,)); the taps of position p = y * W + x are pairs[2 * ptr[p]:2 * ptr[p + 1]],
    each (output offset (oy * OW + ox) * O, kernel offset (ky * kW + kx) * O), in (ky, kx)
    order: an input at (y, x) reaches output (oy, ox) through tap (ky, kx) when
    y + pad - ky * dilation = oy * stride with 0 <= oy < OH (and alike along x)."""
    _, h, w, o, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw = geom[:14]
    y, x, ky, kx = np.meshgrid(np.arange(h), np.arange(w), np.arange(kh), np.arange(kw),
                               indexing="ij")
    ty, tx = y + ph - ky * dh, x + pw - kx * dw
    hit = ((ty >= 0) & (ty % sh == 0) & (ty // sh < oh) & (tx >= 0) & (tx % sw == 0)
           & (tx // sw < ow))
    out = ((ty // sh) * ow + tx // sw) * o
    tap = (ky * kw + kx) * o
    ptr = np.concatenate([[0], np.cumsum(hit.reshape(h * w, -1).sum(axis=1))])
    pairs = np.stack([out[hit], tap[hit]], axis=1).reshape(-1)
    return ptr.astype(np.int64), pairs.astype(np.int64)


def channel_last(g: Graph) -> dict[str, tuple[int, int]]:
    """The populations the loop holds channel-last (position-major, channels innermost, the
    order of a Conv's scatter buffer), each with its (channels, positions): those of shape
    (C, H, W) that a Conv feeds or reads, when no Sparse feeds or reads them (a Dense or
    DelayDense permutes its weight rows or columns instead). Their Conv registers then need no
    transposition each step; the loop's state, parameters and outputs are permuted once."""
    perms = {}
    for p, op in g.nodes.items():
        if op.kind != "neuron" or len(g.shapes[p]) != 3:
            continue
        near = [type(g.nodes[k]) for k in (*g.predecessors(p), *g.successors(p))
                if g.nodes[k].kind == "synapse"]
        if hw.Conv in near and hw.Sparse not in near:
            c, h, w = g.shapes[p]
            perms[p] = (c, h * w)
    return perms


def _graph_order(a: np.ndarray, perm: tuple[int, int] | None) -> np.ndarray:
    """A view of a (..., n) array in the loop's neuron order as (..., C, H*W) in the graph's
    (channel-major) order, for a channel-last population (perm its (C, H*W)); else a itself."""
    if perm is None:
        return a
    return a.reshape(*a.shape[:-1], perm[1], perm[0]).swapaxes(-1, -2)


def _loop_index(perm: tuple[int, int]) -> np.ndarray:
    """The graph index of each loop index of a channel-last population."""
    return np.arange(perm[0] * perm[1]).reshape(perm).T.reshape(-1)


def _tables(g: Graph, syn: dict, source: dict[str, int], start: dict[str, int],
            perms: dict[str, tuple[int, int]]) -> _Tables:
    tables = _Tables()
    shapes = g.shapes
    for k, rule in syn.items():
        op, (p,) = g.nodes[k], g.predecessors(k)
        (q,) = g.successors(k)
        n_in, n_out = int(np.prod(shapes[p])), int(np.prod(shapes[k]))
        common: dict[str, Any] = {"src": source[p], "tgt": start[q], "n_in": n_in,
                                  "n_out": n_out, "payload": rule.payload_max}
        if type(op) is hw.Conv:
            geom, taps, reach = conv_scatter_tables(op, shapes[p], shapes[k], p in perms,
                                                    q in perms)
            tables.add(k, CONV, taps, fan_in=int(np.prod(np.shape(op.weight)[1:])), geom=geom,
                       csr=reach, **common)
        elif type(op) is hw.Sparse:
            indptr, indices, values = rule.wt
            fan_in = int(np.diff(np.asarray(op.indptr)).max(initial=0))
            tables.add(k, SPARSE, values, e=rule.e, fan_in=fan_in, csr=(indptr, indices),
                       **common)
        else:  # a DelayDense's group of delay d: its effective weights where delays == d (the
            # preprocessing is elementwise, 0 stays 0, and the sign mode comes from all of W)
            w = effective_weights(op)
            delayed = type(op) is hw.DelayDense
            for delay in np.unique(op.delays) if delayed else [0]:
                part = (np.where(op.delays == delay, w, 0) if delayed else w).T
                part = part[_loop_index(perms[p])] if p in perms else part  # the loop's order
                part = part[:, _loop_index(perms[q])] if q in perms else part
                tables.add(k, DENSE, np.ascontiguousarray(part), e=int(op.weight_exp),
                           delay=int(delay), fan_in=n_in, **common)
    return tables


_PACKED = IdentityCache(4)  # the last few graphs' tables


def _packed(g: Graph, syn: dict, lif: dict, source: dict[str, int],
            start: dict[str, int]) -> tuple:
    """(tables, weights, CSR indices, conv geometry, rows, channel-last permutations,
    population constants, pops) as the loop reads them, kept for the last few graphs:
    repeated runs of one graph skip the weight and parameter preparation (about half of a
    batch-1 CNN run)."""
    def make() -> tuple:
        perms = channel_last(g)
        tables = _tables(g, syn, source, start, perms)
        dtype = np.int64 if tables.wide else np.int32
        flat = (np.concatenate(tables.weights).astype(dtype) if tables.weights
                else np.zeros(0, dtype))
        idx = np.concatenate(tables.idx).astype(np.int64) if tables.idx else np.zeros(0, np.int64)
        consts, pops = _constants(list(lif), lif, perms)
        return (tables, flat, idx, np.array(tables.geom, np.int64).reshape(-1, GEOM),
                np.array(tables.rows, np.int64).reshape(-1, 10), perms, consts, pops)

    return _PACKED.get(g, make, tuple(rule.payload_max for rule in syn.values()))


def _constants(names: list[str], lif: dict, perms: dict) -> tuple[list, np.ndarray]:
    """(8 (N,) int64 parameter arrays in the loop's neuron order, pops (P, 6)) from the
    emulator's prepared neuron objects."""
    par, pops, lo = [], [], 0
    for p in names:
        cell = lif[p]
        n = cell.u.shape[1]
        if type(cell.op) is hw.ATRLIF:
            consts = (cell.Di, cell.Dv, 0, cell.bias, cell.Dth, cell.Dr, cell.theta_0,
                      cell.theta_step)
            pops.append([lo, lo + n, 1, 0, 0, 0])
        else:
            consts = (cell.Du, cell.Dv, cell.vth, cell.bias, 0, 0, 0, 0)
            pops.append([lo, lo + n, 0, cell.reset, cell.interval, cell.phase])
        order = _loop_index(perms[p]) if p in perms else slice(None)
        par.append([np.broadcast_to(c, n)[order] for c in consts])
        lo += n
    return ([np.ascontiguousarray(np.concatenate(parts).astype(np.int64)) for parts in zip(*par)],
            np.array(pops, np.int64).reshape(-1, 6))


def _state(names: list[str], lif: dict, perms: dict, pop_off: np.ndarray,
           batch: int) -> list[np.ndarray]:
    """[u, v, s_prev, theta, r] (batch, N) in the loop's neuron order: the initial state the
    emulator's neuron objects hold (theta and r zero but for ATRLIF, s_prev for LIF)."""
    n_all = int(pop_off[-1])
    state = [np.zeros((batch, n_all), dtype) for dtype in (np.int64, np.int64, np.int8,
                                                            np.int64, np.int64)]
    for p, lo, hi in zip(names, pop_off[:-1], pop_off[1:]):
        cell = lif[p]
        atr = type(cell.op) is hw.ATRLIF
        parts = (cell.u, cell.v, None, cell.theta, cell.r) if atr else (
            cell.u, cell.v, cell.s_prev, None, None)
        for whole, part in zip(state, parts):
            if part is not None:
                view = _graph_order(whole[:, lo:hi], perms.get(p))
                view[...] = part.reshape(view.shape)
    return state


def simulate_steps(g: Graph, x: np.ndarray, steps: int, record: bool, strict: bool,
                   syn: dict, lif: dict) -> SimTrace:
    """emulator.simulate for an `applicable` graph. x: (batch, steps_in, *in_shape) bool, or
    int8 payloads of an AnalogInput; syn, lif: the emulator's prepared rule objects (the
    populations hold the initial state)."""
    (in_name,) = g.inputs
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    names = list(lif)
    sizes = [lif[p].u.shape[1] for p in names]
    pop_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    start = dict(zip(names, pop_off[:-1].tolist()))
    n_in = int(np.prod(shapes[in_name]))
    source = {in_name: 0, **{p: n_in + start[p] for p in names}}
    tables, flat, idx, geom, rows, perms, consts, pops = _packed(g, syn, lif, source, start)
    dtype = flat.dtype
    u, v, s_prev, theta, r = _state(names, lif, perms, pop_off, batch)
    n_all = int(pop_off[-1])
    blocks = batched_steps.chosen(g, batch, int(rows[:, 4].max(initial=0)),
                                  int((rows[:, 3] * rows[:, 4]).sum()))
    # the block loop writes each population's (batch, steps, n) train whole, one after another
    spikes = np.empty(batch * steps * n_all if blocks else (batch, steps, n_all), np.int8)
    recs = tuple(np.empty((batch, steps, n_all), np.int32) if record else kernels.NO_RECORD
                 for _ in range(4))
    counts = np.zeros((steps, len(names), 3), np.int64)
    wraps = np.zeros((steps, len(tables.rows)), np.int64)
    values = x.view(np.int8) if x.dtype == bool else x
    values = np.ascontiguousarray(values.reshape(batch, steps_in, n_in), np.int8)
    kinds = {row[0] for row in tables.rows}
    # the optional parts of the loop, None when unused (numba compiles them out)
    adaptive = ((theta, r, *consts[4:], *recs[2:]) if any(pops[:, 2] == 1) else None)
    if blocks:  # (its counts leave the spike column empty)
        batched_steps.block_steps(values, x.dtype == bool, steps, u, v, s_prev, tuple(consts[:4]),
                                  pops, rows, flat, np.zeros(0, dtype), spikes, recs[:2], counts,
                                  adaptive, idx if SPARSE in kinds else None, batched_steps.BLOCK,
                                  batched_steps.SCATTER)
    else:
        graph_kernel.graph_steps(values, steps, u, v, s_prev, tuple(consts[:4]), pops,
                            rows, flat,
                            np.zeros(0, dtype), spikes, recs[:2], counts, adaptive,
                            idx if SPARSE in kinds else None,
                            (geom, wraps, idx) if CONV in kinds else None)
    trains, out_u, out_v, extra = {}, {}, {}, {}
    for p, lo, hi in zip(names, pop_off[:-1], pop_off[1:]):
        shape = (batch, steps, *shapes[p])
        perm = perms.get(p)  # each copied in the graph's neuron order when read
        train = spikes[batch * steps * lo:batch * steps * hi] if blocks else spikes[:, :, lo:hi]
        trains[p] = functools.partial(_copied, train, perm, shape)
        if record:
            out_u[p] = np.ascontiguousarray(_graph_order(recs[0][:, :, lo:hi], perm)
                                            ).reshape(shape)
            out_v[p] = np.ascontiguousarray(_graph_order(recs[1][:, :, lo:hi], perm)
                                            ).reshape(shape)
            if type(g.nodes[p]) is hw.ATRLIF:
                for key, rec in (("theta", recs[2]), ("r", recs[3])):
                    extra[f"{key}:{p}"] = np.ascontiguousarray(
                        _graph_order(rec[:, :, lo:hi], perm)).reshape(shape)
    out_spikes = _Trains(trains, {n: g.predecessors(n)[0] for n in g.outputs})
    events = _events(names, counts[:, :, :2], tables.names, wraps) if strict else []
    counted = {p: counts[:, i, 2] for i, p in enumerate(names)  # LIFs, if graph_steps ran
               if pops[i, 2] == 0 and not blocks}
    return SimTrace(steps, out_spikes, out_u, out_v, events, extra, counted)  # type: ignore


def _copied(a: np.ndarray, perm: tuple[int, int] | None, shape: tuple) -> np.ndarray:
    """A train in the graph's order and shape: a view where it already is (a block loop's
    whole train), else a copy."""
    return np.ascontiguousarray(_graph_order(a, perm)).reshape(shape)


class _Trains(Mapping):
    """The populations' spike trains (and the outputs', the same arrays), each copied out of
    the loop's array in the graph's neuron order when first read: run_emulator reads only the
    outputs' (the kernel counted every population's spikes per step)."""

    def __init__(self, make: dict[str, Callable[[], np.ndarray]], outputs: dict[str, str]):
        self._make, self._outputs, self._done = make, outputs, {}  # type: ignore[var-annotated]

    def __getitem__(self, name: str) -> np.ndarray:
        name = self._outputs.get(name, name)
        if name not in self._done:
            self._done[name] = self._make[name]()
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._make, *self._outputs])

    def __len__(self) -> int:
        return len(self._make) + len(self._outputs)


def _events(names: list[str], counts: np.ndarray, syn_names: list[str],
            wraps: np.ndarray) -> list[Event]:
    """The stepwise loop's strict-mode events: per step (hw steps from 1), per population u
    wraps then v saturations, then per Conv its 24-bit wraps."""
    events = []
    for t in np.unique(np.concatenate([np.nonzero(counts)[0], np.nonzero(wraps)[0]])):
        for p, kind in zip(*np.nonzero(counts[t])):
            events.append(Event(names[p], int(t) + 1, ("u_wrap", "v_saturation")[kind],
                                int(counts[t, p, kind])))
        for k in np.nonzero(wraps[t])[0]:
            events.append(Event(syn_names[k], int(t) + 1, "conv_wrap", int(wraps[t, k])))
    return events
