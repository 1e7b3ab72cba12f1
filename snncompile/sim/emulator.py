"""Integer interpreter of hw graphs, bit-exact with Lava 0.10.0 fixed_pt (spec §0-§3, checklist §7).

Each hw step t = 1, 2, ...: every neuron reads the sum of its synapses' registers (filled at t - 1,
so every synapse is one step of latency), updates and spikes; then every synapse reads the spikes of
step t of its source and fills its register for t + 1. All state is int64 numpy; only the wraps Lava
performs are reproduced: int32 channels and int32 LIF arithmetic, the single-correction u wrap, the
v
clip and Conv's 24-bit wrap. Dense and Conv accumulate in float64 (BLAS / torch): binary spikes
times integer weights give integer partial sums of magnitude < 2^53, which float64 adds exactly in
any order, so the result equals Lava's integer sum (asserted per synapse below).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError, InputError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.progress import staged
from snncompile.sim import sample_chunks
from snncompile.sim.fixed import EXACT, U_MAX, V_MAX, Event, SimTrace, decay, wrap
from snncompile.sim.inputs import check_analog_sums, check_input, graded_int32
from snncompile.sim.kernels import NO_RECORD, RESETS, IntWeights, lif_run, per_neuron
from snncompile.sim.lava_params import effective_bias, effective_weights, resolved_sign_mode
from snncompile.sim.sigma_delta import NEURON_RULES as GRADED_RULES
from snncompile.sim.sigma_delta import graded_dense, is_graded
from snncompile.sim.sparse import SparseSynapse
from snncompile.sim.timing import clock_nodes, latency, synaptic_depths


class _Synapse:
    def __init__(self, name: str, op: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 batch: int):
        self.name, self.op, self.in_shape = name, op, in_shape
        self.register = np.zeros((batch, int(np.prod(out_shape))), dtype=np.int64)
        self.payload_max = 1  # largest |input|: 1 for spikes, qmax for an AnalogInput's payloads
        self.graded = False  # set by simulate: the source sends values (num_message_bits > 0)


class _Dense(_Synapse):
    """Binary spikes times Lava's 8-bit weights: an int8 x int8 -> int32 product
    (kernels.IntWeights)
    where the weights allow it (always for Lava's), else a float64 product (exact below 2^53)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.int_weights, self.wt = _prepared_weights(self.op)
        n_in = int(np.prod(self.in_shape))
        if self.int_weights.n_in != n_in:
            raise GraphCheckError(f"emulator: Dense {self.name!r} has {self.int_weights.n_in} "
                                  f"inputs, its source gives {n_in}")
        if self.int_weights.peak * n_in >= EXACT:
            raise GraphCheckError(f"emulator: Dense {self.name!r} sums could exceed 2^53")

    def product(self, rows: np.ndarray) -> np.ndarray:
        """rows (m, n_in) of 0/1 -> the wrapped a_out register (m, n_out) int32."""
        if self.int_weights.exact:
            return self.int_weights.product(np.asarray(rows).astype(np.int8, copy=False))
        return _float_product(rows, self.wt, self.op.weight_exp)

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        if self.graded:
            if not hasattr(self, "w_eff"):
                self.w_eff = effective_weights(self.op)
            self.register = graded_dense(self.w_eff, self.op.weight_exp, s.reshape(len(s), -1))
            return
        self.register = self.product(s.reshape(len(s), -1))


_PREPARED: dict[int, tuple[Any, IntWeights, np.ndarray | None]] = {}


def _prepared_weights(op: Any) -> tuple[IntWeights, np.ndarray | None]:
    """A Dense op's weights as the products need them (int8, or float64 (n_in, n_out) where int8
    cannot hold them), kept for the last few ops (by identity: ops are immutable) so repeated
    runs of one graph do not redo Lava's weight preprocessing."""
    hit = _PREPARED.get(id(op))
    if hit is not None and hit[0] is op:
        return hit[1], hit[2]
    w = effective_weights(op)
    int_weights = IntWeights(w, op.weight_exp)
    wt = None if int_weights.exact else np.ascontiguousarray(w.T, dtype=np.float64)
    while len(_PREPARED) >= 8:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[id(op)] = (op, int_weights, wt)
    return int_weights, wt


def _float_product(rows: np.ndarray, wt: np.ndarray, e: int) -> np.ndarray:
    acc = np.rint(rows.astype(np.float64) @ wt).astype(np.int64)
    return wrap(acc << e if e > 0 else acc >> -e, 32).astype(np.int32)


class _DelayDense(_Synapse):
    """Delay ring: slot k holds what the neurons read k + 1 steps after the current one; one
    _Dense product per distinct delay (the weights whose delay is k, others 0)."""

    @functools.cached_property
    def groups(self) -> list[tuple[int, _Dense]]:
        """(delay, its weights as a _Dense), made on first use: the compiled step loop never
        needs them (22 delays made 22 int8 matrices per run of the delays example)."""
        delays = np.asarray(self.op.delays)
        w = np.asarray(self.op.weights)
        return [(int(k), _Dense(self.name, dataclasses.replace(
            self.op, weights=np.where(delays == k, w, 0), sign_mode=resolved_sign_mode(self.op)),
            self.in_shape, self.register.shape[1:], 1)) for k in np.unique(delays)]

    @functools.cached_property
    def ring(self) -> np.ndarray:
        return np.zeros((len(self.register), int(np.max(self.op.delays, initial=0)) + 1,
                         self.register.shape[1]), dtype=np.int64)

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        self.ring = np.roll(self.ring, -1, axis=1)
        self.ring[:, -1] = 0
        for k, dense in self.groups:
            self.ring[:, k] += dense.product(s.reshape(len(s), -1))
        self.register = wrap(self.ring[:, 0], 32)


class _Conv(_Synapse):
    def __init__(self, *args: Any):
        super().__init__(*args)
        import torch

        w = np.asarray(self.op.weight, dtype=np.int64)
        # Lava's Conv sums in float64 and casts to int32 (conv/utils.py L218): beyond 2^31 that
        # cast is undefined in numpy, so no emulator can promise Lava's answer there.
        bound = np.abs(w).max(initial=0) * int(np.prod(w.shape[1:]))
        if bound >= 2**31:
            raise GraphCheckError(
                f"emulator: Conv {self.name!r} sums can reach {bound} >= 2^31, where Lava's int32 "
                "cast is undefined; use smaller weights")
        self.torch, self.w = torch, torch.from_numpy(w.astype(np.float64))

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        op, F = self.op, self.torch.nn.functional
        x = self.torch.from_numpy(s.reshape(len(s), *self.in_shape).astype(np.float64))
        y = F.conv2d(x, self.w, stride=op.stride, padding=op.padding, dilation=op.dilation,
                     groups=op.groups)
        acc = np.rint(y.numpy()).astype(np.int64).reshape(len(s), -1)
        if self.graded and np.abs(acc).max(initial=0) >= 2**31:  # graded values: exact < 2^53
            raise GraphCheckError(f"emulator: Conv {self.name!r} sums graded spikes past 2^31, "
                                  "where Lava's int32 cast is undefined")
        if events is not None:
            n = int(np.count_nonzero((acc < -U_MAX) | (acc >= U_MAX)))
            if n:
                events.append(Event(self.name, t, "conv_wrap", n))
        self.register = wrap(acc, 24)


def initial_uv(op: Any, batch: int, init: tuple | None) -> tuple[np.ndarray, np.ndarray]:
    """A population's (u, v) at the start, (batch, n) int64: zero, or the given state."""
    n = int(np.prod(op.shape))
    u, v = np.zeros((batch, n), dtype=np.int64), np.zeros((batch, n), dtype=np.int64)
    if init is not None:
        u[:] = np.asarray(init[0], dtype=np.int64).reshape(-1)
        v[:] = np.asarray(init[1], dtype=np.int64).reshape(-1)
    return u, v


class _LIF:
    """hw.LIF, one step at a time through the compiled kernel (kernels.lif_run, whose docstring
    and spec §1.1/§1.2 are the rule): u1 = wrap32(tz(u * Du) + wrap32(a << 6)) with Lava's single
    correction into (-2^23, 2^23]; v = clip(wrap32(tz(v * Dv) + u + bias), +-V_MAX); spike if
    v > vth << 6, then reset v (zero or subtract)."""

    def __init__(self, name: str, op: hw.LIF, batch: int, init: tuple | None = None):
        self.name, self.op = name, op
        self.u, self.v = initial_uv(op, batch, init)
        n = self.u.shape[1]
        self.bias = effective_bias(op)
        self.Du = per_neuron(4096 - (np.asarray(op.du, np.int64) + 1), n)
        self.Dv = per_neuron(4096 - np.asarray(op.dv, np.int64), n)
        self.vth = per_neuron(np.asarray(op.vth, np.int64) << 6, n)
        self.s_prev = np.zeros(self.u.shape, np.int8)  # "subtract_next": the pending subtraction
        self.reset = RESETS[op.reset]
        self.interval = int(op.reset_interval)
        self.phase = int(op.reset_offset) % self.interval if self.interval else 0

    def run(self, a: np.ndarray, lag: int, t0: int, spikes: np.ndarray, u_rec: np.ndarray,
            v_rec: np.ndarray, counts: np.ndarray, rows: slice = slice(None),
            up: int = 6) -> None:
        """kernels.lif_run on this population's state (the batch rows `rows`)."""
        lif_run(a, lag, up, self.u[rows], self.v[rows], self.s_prev[rows], self.Du, self.Dv,
                self.vth, self.bias, self.reset, self.interval, self.phase, t0, spikes, u_rec,
                v_rec, counts)

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        batch, n = self.u.shape
        s = np.empty((batch, 1, n), np.int8)
        counts = np.zeros((1, 2), np.int64)
        self.run(np.asarray(a_in).reshape(batch, 1, n), 0, t, s, NO_RECORD, NO_RECORD, counts)
        if events is not None:
            for kind, c in zip(("u_wrap", "v_saturation"), counts[0]):
                if c:
                    events.append(Event(self.name, t, kind, int(c)))
        return s.reshape(batch, n).view(bool)


class _ATRLIF:
    """hw.ATRLIF (its docstring is the rule), vectorized over the batch like _LIF; u is the current
    i. Strict rows: "u_wrap" (i) and "v_saturation". Lava's int32 casts of theta, r and v - r are
    reproduced but cannot wrap in a checked graph: theta_0, theta_step >= 0 keep theta, r >= 0, and
    a spike needs theta <= v - r < 2^23, so theta < 2^24 and r < 3 * 2^23 always."""

    EXTRA = ("theta", "r")

    def __init__(self, name: str, op: hw.ATRLIF, batch: int, init: tuple | None = None):
        self.name, self.op = name, op
        self.u, self.v = initial_uv(op, batch, init)
        n = self.u.shape[1]
        field = {k: np.broadcast_to(np.asarray(getattr(op, k), np.int64), op.shape).reshape(n)
                 for k in op.PER_NEURON}  # per neuron (a shared value broadcast)
        self.theta_0, self.theta_step = field["theta_0"] << 6, field["theta_step"] << 6
        self.theta = np.broadcast_to(self.theta_0, (batch, n)).copy()
        self.r = np.zeros((batch, n), dtype=np.int64)
        self.bias = effective_bias(op)
        self.Di, self.Dv = 4096 - (field["delta_i"] + 1), 4096 - field["delta_v"]
        self.Dth, self.Dr = 4096 - field["delta_theta"], 4096 - field["delta_r"]

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        i1 = wrap(decay(self.u, self.Di) + wrap(wrap(a_in, 32) << 6, 32), 32)
        i = i1 - (2 * U_MAX) * (i1 > U_MAX) + (2 * U_MAX) * (i1 <= -U_MAX)
        v1 = wrap(decay(self.v, self.Dv) + i + self.bias, 32)
        v = np.clip(v1, -V_MAX, V_MAX)
        theta = wrap(decay(wrap(self.theta - self.theta_0, 32), self.Dth) + self.theta_0, 32)
        r = wrap(decay(self.r, self.Dr), 32)
        s = wrap(v - r, 32) >= theta
        if events is not None:
            for kind, n in (("u_wrap", np.count_nonzero((i1 > U_MAX) | (i1 <= -U_MAX))),
                            ("v_saturation", np.count_nonzero((v1 > V_MAX) | (v1 < -V_MAX)))):
                if n:
                    events.append(Event(self.name, t, kind, int(n)))
        self.r = np.where(s, wrap(r + 2 * theta, 32), r)
        self.theta = np.where(s, wrap(theta + self.theta_step, 32), theta)
        self.u, self.v = i, v
        return s


SYNAPSE_RULES: dict[type, Callable[..., _Synapse]] = {
    hw.Dense: _Dense, hw.DelayDense: _DelayDense, hw.Sparse: SparseSynapse, hw.Conv: _Conv}
NEURON_RULES: dict[type, Callable[..., Any]] = {hw.LIF: _LIF, hw.ATRLIF: _ATRLIF, **GRADED_RULES}
IO_OPS = (hw.SpikeInput, hw.GradedInput, hw.AnalogInput, hw.SpikeOutput)
# the compiled paths simulate may take (tests switch one off to compare it with the Python loop)
PATHS = {"layers": True, "compiled_steps": True}


def simulate(
    hw_graph: Graph,
    spikes_hw: np.ndarray,
    steps: int,
    record: bool = False,
    strict: bool = False,
    initial_state: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> SimTrace:
    """Run `steps` hw steps; spikes_hw (batch, steps_in, *in_shape) is emitted at hw steps
    1..steps_in
    (any non-zero is a spike; a GradedInput sends the int32 values), zeros after. Returns spikes of
    every LIF and output; u, v if record."""
    g = hw_graph
    if len(g.inputs) != 1:
        raise GraphCheckError(f"emulator: the graph has inputs {g.inputs}; one input is supported")
    (in_name,) = g.inputs
    graded = isinstance(g.nodes[in_name], hw.GradedInput)
    analog = isinstance(g.nodes[in_name], hw.AnalogInput)  # int8 payloads into synapses
    if graded:
        x = graded_int32(spikes_hw)  # int32 holds every wrapped value: no int64 copy
    elif analog:
        x = np.asarray(spikes_hw).astype(np.int8)
    else:
        x = np.asarray(spikes_hw)
        x = x if x.dtype == bool else x != 0
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    for name, op in g.nodes.items():
        if not any(type(op) in rules for rules in (SYNAPSE_RULES, NEURON_RULES, IO_OPS)):
            raise UnsupportedOp(op, "emulator", f"node {name!r}")
    preds = {n: g.predecessors(n) for n in g.nodes}
    syn = {n: SYNAPSE_RULES[type(op)](n, op, shapes[preds[n][0]], shapes[n], batch)
           for n, op in g.nodes.items() if op.kind == "synapse"}
    init = initial_state or {}
    lif = {n: NEURON_RULES[type(op)](n, op, batch, init.get(n))
           for n, op in g.nodes.items() if op.kind == "neuron"}
    for n, s in syn.items():
        s.graded = any(is_graded(g.nodes[p]) for p in preds[n])
        if s.graded and (len(preds[n]) > 1 or isinstance(s, _DelayDense)):
            raise UnsupportedOp(g.nodes[n], "emulator", f"graded spikes into synapse {n!r} "
                                "(one source through a Dense or Conv is modelled)")
        if len({shapes[p] for p in preds[n]}) != 1:
            raise GraphCheckError(f"emulator: synapse {n!r} sums sources of different shapes")
        if graded and in_name in preds[n]:
            raise UnsupportedOp(g.nodes[in_name], "emulator",
                                f"graded input {in_name!r} into synapse {n!r} (feed a LIF "
                                "directly)")
        if analog and in_name in preds[n]:
            check_analog_sums(n, g.nodes[n], g.nodes[in_name], shapes[in_name])
            s.payload_max = g.nodes[in_name].qmax  # fast.py: a conv's exact-float32 bound
    from snncompile.sim import compiled_steps, fast  # the same integers, compiled

    if fast.applicable(g, strict, initial_state) and PATHS["layers"]:
        return fast.simulate_layers(g, x, steps, record, syn, lif)
    if compiled_steps.applicable(g) and PATHS["compiled_steps"]:
        return compiled_steps.simulate_steps(g, x, steps, record, strict, syn, lif)
    events: list[Event] | None = [] if strict else None
    # sigma-delta neurons send int32 values (graded spikes), LIFs 0/1
    spikes = {n: np.zeros((batch, steps, *shapes[n]),
                          np.int32 if type(g.nodes[n]) in GRADED_RULES else np.int8) for n in lif}
    u = {n: np.zeros((batch, steps, *shapes[n]), np.int32) for n in lif} if record else {}
    v = {n: np.zeros((batch, steps, *shapes[n]), np.int32) for n in lif} if record else {}
    extra = {f"{k}:{n}": np.zeros((batch, steps, *shapes[n]), np.int32)
             for n, neuron in lif.items() for k in getattr(neuron, "EXTRA", ())} if record else {}
    current: dict[str, np.ndarray] = {}
    zero_in = np.zeros((batch, *x.shape[2:]), dtype=x.dtype)
    for t in range(1, steps + 1):
        current[in_name] = x[:, t - 1] if t <= steps_in else zero_in
        for n, neuron in lif.items():
            a = sum((syn[p].register if p in syn else current[p].reshape(batch, -1)
                     for p in preds[n]), np.zeros_like(neuron.u))
            s = neuron.step(t, a, events)
            current[n] = s
            spikes[n][:, t - 1] = s.reshape(batch, *shapes[n])
            if record:
                u[n][:, t - 1] = neuron.u.reshape(batch, *shapes[n])
                v[n][:, t - 1] = neuron.v.reshape(batch, *shapes[n])
                for k in getattr(neuron, "EXTRA", ()):
                    extra[f"{k}:{n}"][:, t - 1] = getattr(neuron, k).reshape(batch, *shapes[n])
        for n, synapse in syn.items():
            src = [current[p].reshape(batch, -1) for p in preds[n]]
            if synapse.graded:
                synapse.receive(src[0].astype(np.int64), t, events)
                continue
            s_in = src[0] if len(src) == 1 else sum(a.astype(np.int64) for a in src) != 0
            if s_in.dtype == np.int64:  # a sigma-delta population with binary messages
                s_in = s_in != 0
            synapse.receive(s_in.astype(np.int8), t, events)  # spikes, or analog int8 payloads
    for n in g.outputs:
        spikes[n] = spikes[preds[n][0]]
    return SimTrace(steps, spikes, u, v, events or [], extra)


@dataclasses.dataclass
class EmuResult:
    """Results in nn time: step t of a layer at depth k is hw step t + k (snncompile.sim.timing).

    outputs: output name -> (batch, T, *shape) int8 spikes; spikes / u / v: LIF name -> (batch, T,
    *nn shape) when record; spike_counts: LIF name -> spikes in the T steps (whole batch); events:
    strict-mode wraps and saturations (hw steps, see Event); latency: L, the hw steps added to T.
    """

    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    spike_counts: dict[str, int]
    events: list[Event]
    latency: int
    u: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    v: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@staged("emulator")
def run_emulator(hw_graph: Graph, x: np.ndarray, strict: bool = False,
                 record: bool = False) -> EmuResult:
    """Run binary input x (batch, T, *input_shape) for T + L hw steps; return nn-time results."""
    x = check_input(hw_graph, x)
    if x.dtype in (np.int8, np.uint8) and type(hw_graph.nodes[hw_graph.inputs[0]]) is hw.SpikeInput:
        x = x.view(bool)  # checked 0/1 bytes (not an analog or graded input's values): no copy
    return _run_checked(hw_graph, x, strict, record)


def _run_checked(hw_graph: Graph, x: np.ndarray, strict: bool, record: bool) -> EmuResult:
    """run_emulator after its input check (sample chunks are not checked again)."""
    depth = synaptic_depths(hw_graph)
    clock = clock_nodes(hw_graph)
    layers = [n for n in hw_graph.of_kind("neuron") if n not in clock]
    big_l = latency(hw_graph)
    steps = x.shape[1]
    for n in layers:
        op = hw_graph.nodes[n]
        interval = getattr(op, "reset_interval", 0)  # ATRLIF has no reset schedule
        periodic = hw_graph.meta.get("reset_interval")  # netx's reset_interval: every N steps
        if interval and not periodic and steps + big_l >= op.reset_offset + interval:
            raise InputError(f"a run of {steps} steps is too long for layer {n!r}, which resets "
                             f"every {op.reset_interval} steps")
    chunk = sample_chunks.samples_per_chunk(hw_graph, steps + big_l)
    if not record and not strict and len(x) > chunk:  # samples are independent: run in chunks
        return sample_chunks.merge([_run_checked(hw_graph, part, False, False)
                                    for part in np.split(x, range(chunk, len(x), chunk))])
    trace = simulate(hw_graph, x, steps + big_l, record=record, strict=strict)
    nn_shapes = {k: tuple(s) for k, s in hw_graph.meta.get("nn_shapes", {}).items()}

    def align(arr: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
        return arr[:, k : k + steps].reshape(len(x), steps, *shape)

    outputs = {}
    for n in hw_graph.outputs:
        src = hw_graph.predecessors(n)[0]
        outputs[n] = align(trace.spikes[src], depth[src], tuple(hw_graph.nodes[n].shape))
    counted = trace.step_spikes  # the kernel's per-step counts, where the path made them
    counts = {n: int(counted[n][depth[n]:depth[n] + steps].sum()) if n in counted else
              int(np.count_nonzero(trace.spikes[n][:, depth[n] : depth[n] + steps]))
              for n in layers}
    result = EmuResult(outputs, {}, counts, trace.events, big_l)
    if record:
        for n in layers:
            shape = nn_shapes.get(n, hw_graph.shapes[n])
            result.spikes[n] = align(trace.spikes[n], depth[n], shape)
            result.u[n] = align(trace.u[n], depth[n], shape)
            result.v[n] = align(trace.v[n], depth[n], shape)
    return result
