"""Pass `quantize`: pick each layer's integer threshold and weight exponents, emit hw
LIF/Dense/Conv.

Per layer everything is measured in thresholds (w_thr = gain * w / threshold). The integer
threshold vth fixes the scale S = 64 vth / threshold exactly (so the threshold itself is exact),
and each synapse gets its own weight_exp. Objective, per layer: minimize the worst per-step error
in thresholds = max over synapses of (max weight rounding error + the floor error of a negative
exponent) + bias rounding + decay rounding (1 / (64 vth) per decaying state), subject to u and v
never leaving their 24-bit ranges for the worst-case input (all sources spiking), clipped to
[min_headroom, max_headroom] thresholds; ties go to the larger vth. The search tries, for every
synapse and exponent, the largest vth that still fits its weights, plus the headroom cap.

The search itself is `passes/vth_search.py`, the worst-case range `passes/worst_case.py`, the hw
ops and report rows the codes become `passes/emit.py`.

Floors: see `passes/centring.py` (half an a_in unit of bias per flooring data synapse, or each
neuron's measured loss on calibration input).

Biases: a layer's bias from nn step 1 that lands in v (LIF/IF input bias, v_leak) becomes
bias_mant/bias_exp, and the layer becomes a LIFReset that zeroes u, v at its first nn step (hw
step depth + 1, interval target.reset_interval) to wipe what the bias did before. A bias that must
enter the current (CubaLIF), or start at nn step 2 (behind a recurrent edge), goes through the bias
clock (snncompile.passes.assemble) and is exact. A dry run on zero input then checks that no layer
spikes before its first nn step (those spikes would reach other layers too early); a LIF/IF layer
that does moves its bias to the clock, a CubaLIF with a v_leak that does is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.lowered_ops import GroupedConv, GroupedDense, GroupedSparse, SteppedLayer
from snncompile.passes import adaptive as adaptive_rule
from snncompile.passes import centring as centring_rule
from snncompile.passes import headroom as headroom_rule
from snncompile.passes.analog import analog_input, input_reach, silent_input
from snncompile.passes.assemble import Incoming, assemble, incoming, layers_of
from snncompile.passes.common import unsupported
from snncompile.passes.delays import refuse_long_delays
from snncompile.passes.dry_run import at_rest, early_layers
from snncompile.passes.emit import hw_synapse, param_groups, shared_or_list, synapse_report
from snncompile.passes.encode import (
    WeightCode,
    check_weight_bits,
    encode_bias,
    encode_weights,
    extremes,
    fit_exponent,
)
from snncompile.passes.neuron_rules import hw_reset, neuron_coeffs, rule_of
from snncompile.passes.report import LayerQuant, QuantReport
from snncompile.passes.vth_search import fine_twins, search_vth
from snncompile.passes.worst_case import headroom_need
from snncompile.target import Target


@dataclasses.dataclass
class LayerPlan:
    lif: hw.LIF | hw.ATRLIF
    synapses: list[tuple[Incoming, Any]]
    clock_codes: tuple[WeightCode, ...]  # bias-clock columns: coarse, then fine if split
    report: LayerQuant
    reads_input: bool | None = None  # an analog input's nonzero weights kept (None: none given)


class NeedsFlat(GraphCheckError):
    """Conv layers (C, H, W) whose bias must move to the bias clock (a Dense, flat): lower_to_hw
    lowers them flat (Dense inputs) and quantizes again."""

    def __init__(self, layers: frozenset[str]):
        super().__init__(f"pass quantize: layers {', '.join(sorted(layers))} need the bias clock, "
                         "which reaches flat layers only")
        self.layers = layers


@dataclasses.dataclass(frozen=True)
class Quantize:
    """headroom: fixed u/v range in thresholds (None: the worst-case bound clipped to
    [min_headroom, max_headroom]). split_weights: each Dense also gets a "fine" Dense from the same
    source holding the rounding residual at a smaller exponent (Lava sums both into the neuron),
    trading twice the synapse memory for weights about 8 bits more precise. Bias-clock columns
    are always split: a bias error repeats every step, and the twin costs one synapse per neuron.
    weight_bits: num_weight_bits N of every model synapse (1..8): the search only picks weights Lava
    keeps at N bits (snncompile.passes.encode.limits), Conv held to the same N-bit magnitude;
    bias-clock columns stay at 8 bits (compiler plumbing that carries biases, not model weights).
    activity: calibration rows per source node (passes/centring.activity_of): the floor
    centring then adds each neuron's measured loss instead of half a unit per flooring synapse;
    ranges: each layer's u/v peak on that input, which sets its headroom (passes/headroom.py)."""

    headroom: float | None = None
    min_headroom: float = 8.0
    max_headroom: float = 128.0
    split_weights: bool = False
    weight_bits: int = 8
    activity: Mapping[str, np.ndarray] | None = dataclasses.field(default=None, compare=False,
                                                                   repr=False)
    ranges: Mapping[str, float] | None = dataclasses.field(default=None, compare=False,
                                                            repr=False)  # headroom.py
    name = "quantize"

    def __call__(self, graph: Graph, target: Target) -> tuple[Graph, QuantReport]:
        """The discretized graph (SteppedLayers, grouped synapses) -> (hw graph, report)."""
        from snncompile.sim.emulator import simulate
        from snncompile.sim.timing import synaptic_depths

        check_weight_bits(self.weight_bits, target)
        layers = layers_of(graph, self.name)
        (inp,) = graph.inputs
        to_clock: set[str] = set()
        plans = {n: self.plan(graph, n, target, False) for n in layers}
        reach = [p.reads_input for p in plans.values() if p.reads_input is not None]
        if reach and not any(reach):
            raise silent_input(graph.meta)
        for _ in range(len(plans) + 1):
            hw_graph = assemble(graph, plans, target.name)
            depth = synaptic_depths(hw_graph)
            steps = max(depth[n] for n in layers)
            early = [] if at_rest(hw_graph, steps) else early_layers(
                hw_graph, layers, depth, simulate(hw_graph, np.zeros((1, 0, *graph.shapes[inp])),
                                                  steps))
            if not early:
                return hw_graph, QuantReport(target.name,
                                             tuple(p.report for p in plans.values()),
                                             self.weight_bits)
            movable = [n for n in early if n not in to_clock
                       and rule_of(layers[n]).bias_to_clock
                       and plans[n].report.bias_route.startswith("neuron")]
            if not movable:
                n = early[0]
                raise unsupported(self.name, n, layers[n].neuron,
                                  "its v_leak makes it spike before its first input arrives (hw "
                                  f"step <= {depth[n]}), and those spikes would reach other layers")
            shaped = [n for n in movable if len(layers[n].hw_shape) > 1]
            if shaped:  # the clock's Dense gives a flat input: lower those layers flat
                raise NeedsFlat(frozenset(shaped))
            for n in movable:
                to_clock.add(n)
                plans[n] = self.plan(graph, n, target, True)
        raise AssertionError("bias routing did not converge")  # each round moves a layer

    def plan(self, graph: Graph, name: str, target: Target, v_bias_to_clock: bool) -> LayerPlan:
        c = graph.nodes[name]
        assert isinstance(c, SteppedLayer)
        op, nn_shape = c.neuron, tuple(graph.shapes[name])
        rule = rule_of(c)
        adaptive, cuba = rule.adaptive, rule.current
        thr, alpha, beta = neuron_coeffs(name, c)
        if np.any(thr <= 0):
            raise unsupported(self.name, name, op, f"{'theta_0' if adaptive else 'v_threshold'} "
                              f"{thr.min()} is not positive")
        bad = ~((alpha > 0) & (alpha <= 1) & (beta >= 0) & (beta <= 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise unsupported(self.name, name, op, f"per-step decays alpha={alpha[i]:.4g}, "
                              f"beta={beta[i]:.4g} are outside [0, 1] (a time constant below dt)")
        reset, warnings = hw_reset(name, c, target)
        syns = incoming(graph, name)
        for s in syns:
            if isinstance(s.op, GroupedDense):
                refuse_long_delays(s.name, s.op, target)
        xs = [self._thr_weights(name, op, s, c, nn_shape, thr) for s in syns]
        analog = analog_input(graph.meta)
        # an analog input's synapse: weights per input unit (scale), payloads up to qmax
        mags = [analog.qmax if analog and s.source in graph.inputs else 1 for s in syns]
        # (by source, not by qmax > 1: a 2-bit payload's qmax is 1 and its scale any range)
        xs = [x * analog.scale if analog and s.source in graph.inputs else x
              for x, s in zip(xs, syns)]
        g = c.gain / thr
        vb = c.v_bias / thr + (0.0 if cuba else g * c.bias_now)
        now, late = (g * c.bias_now if cuba else np.zeros_like(g)), g * c.bias_late
        if v_bias_to_clock:
            now, vb = now + vb, np.zeros_like(vb)
        clock_x = np.stack([now, late], axis=1) if np.any(now) or np.any(late) else None
        groups: list[tuple[np.ndarray, bool, tuple[int, int] | None, int]] = [
            (x, isinstance(s.op, GroupedConv), None, self.weight_bits) for x, s in zip(xs, syns)]
        if clock_x is not None:
            groups.append((clock_x, False, (0, target.weight_exp_max), target.weight_bits))
        mags += [1] * (len(groups) - len(mags))

        need = headroom_need([x if m == 1 else x * m for x, m in zip(xs, mags)], syns,
                                   clock_x, vb, alpha, beta)
        room = self.headroom or headroom_rule.room(need, (self.ranges or {}).get(name),
                                                   self.min_headroom, self.max_headroom,
                                                   (target.uv_max - 1) / 64.0)
        cap = int(min(target.vth_max, (target.uv_max - 1) // (64 * room)))
        if need > room:
            warnings.append(f"worst-case input needs {need:.3g} thresholds of u/v range, kept "
                            f"{room:.3g} for precision: u may wrap or v saturate when most inputs "
                            "spike together (strict mode reports it)")
        decays = int(np.any(beta > 0)) + int(cuba and np.any(alpha < 1))  # decays that round
        if adaptive:
            decays += adaptive_rule.extra_cost(name, op, c, thr)
        exts = [extremes(x) for x, *_ in groups]  # once per array: the search asks often
        vth = search_vth(self.name, name, op, groups, exts, vb, decays, cap, target, mags)

        codes = [encode_weights(x, vth, fit_exponent(x, vth, target, conv, exps, bits, ext),
                                target, conv, bits, ext)
                 for (x, conv, exps, bits), ext in zip(groups, exts)]
        fines = fine_twins(groups, codes, vth, target, clock_x is not None, mags,
                           self.split_weights)
        centring = self._centring(syns, codes, fines, len(vb))
        if np.any(centring) and not (adaptive or cuba):  # u = a_in: the v bias meets it 1:1
            vb = vb + centring / vth
        bias = encode_bias(vb, vth, target)
        if bias.clipped:
            warnings.append(f"{bias.clipped} neuron biases exceed the bias range and were clipped")
        # per neuron (int64 arrays); hw.LIF stores a shared value as one integer
        du = (np.clip(np.round(4096 * alpha) - 1, target.du_min, target.du_max) if cuba
              else np.full(alpha.shape, target.du_max)).astype(np.int64)
        dv = np.clip(np.round(4096 * beta), target.dv_min, target.dv_max).astype(np.int64)
        du_errs = np.abs((4096 - du - 1) / 4096 - (1 - alpha))
        dv_errs = np.abs((4096 - dv) / 4096 - (1 - beta))
        du_err, dv_err = float(du_errs.max()), float(dv_errs.max())
        for what, errs, d in (("current", du_errs, 4095 - du), ("voltage", dv_errs, 4096 - dv)):
            i = int(np.argmax(errs))
            if errs[i] > 1 / 8192 and not adaptive:  # adaptive_rule.atrlif warns on its own grid
                warnings.append(f"{what} decay is off by {errs[i]:.3g} per step (nearest is "
                                f"{d[i]}/4096)")
        has_bias = bool(np.any(bias.mant))
        shape = tuple(c.hw_shape)
        lif: hw.LIF | hw.ATRLIF
        if adaptive:  # Lava's ATRLIF (bias always through the clock, so has_bias is False)
            lif, more, fields = adaptive_rule.atrlif(name, op, c, shape, thr, vth, alpha, beta)
            warnings += more
            du, dv, du_err, dv_err = (fields[k] for k in ("du", "dv", "du_err", "dv_err"))
        else:
            lif = hw.LIF(shape, du=du.reshape(shape), dv=dv.reshape(shape), vth=vth,
                         bias_mant=bias.mant.reshape(shape),
                         bias_exp=bias.exp.reshape(shape), reset=reset,
                         reset_interval=target.reset_interval if has_bias else 0,
                         reset_offset=c.depth + 1 if has_bias else 0)
        hw_syns = [(s, hw_synapse(s, code, self.weight_bits)) for s, code in zip(syns, codes)]
        sq = [synapse_report(s.name, s.source, s.form, code) for s, code in zip(syns, codes)]
        if clock_x is not None:
            sq.append(synapse_report(f"{name}.bias", "bias_clock", "bias", codes[-1]))
        for i, fine in enumerate(fines):
            if fine is not None:  # the pair's error is what the fine part leaves
                sq[i] = dataclasses.replace(sq[i], max_err_thr=fine.max_err,
                                            max_err_lsb=fine.max_err / sq[i].lsb_thr)
                sq.append(synapse_report(f"{sq[i].name}.fine", sq[i].source, "fine", fine))
        for s, fine in zip(syns, fines):
            if fine is not None:
                twin = s._replace(name=f"{s.name}.fine")
                hw_syns.append((twin, hw_synapse(twin, fine, self.weight_bits)))
        clock_codes = () if clock_x is None else tuple(
            code for code in (codes[-1], fines[-1]) if code is not None)
        route = "+".join(r for r, on in (("neuron", has_bias), ("clock", bool(clock_codes))) if on)
        scale = 64.0 * vth / float(np.mean(thr))  # per neuron 64 vth / thr_i when they differ
        report = LayerQuant(
            layer=name, kind=type(op).__name__, neurons=int(np.prod(shape)), depth=c.depth,
            vth=vth,
            scale=scale, threshold_err=0.0, du=shared_or_list(du), dv=shared_or_list(dv),
            du_err=du_err, dv_err=dv_err, bias_route=route or "-", bias_err_thr=bias.max_err,
            headroom_thr=(target.uv_max - 1) / (64.0 * vth), synapses=tuple(sq),
            warnings=tuple(warnings), param_groups=param_groups(lif))
        reads = input_reach(xs, codes, fines, [s.source in graph.inputs for s in syns])
        return LayerPlan(lif, hw_syns, clock_codes, report, reads if analog else None)

    def _centring(self, syns: list[Incoming], codes: list[WeightCode],
                  fines: list[WeightCode | None], n: int) -> np.ndarray | float:
        """a_in units of bias per neuron that centre the data synapses' floors (centring.py):
        measured on the calibration activity when it covers every flooring synapse's source."""
        codes, fines = codes[:len(syns)], fines[:len(syns)]
        if self.activity is not None:
            measured = centring_rule.calibrated(syns, codes, fines, self.activity, n)
            if measured is not None:
                return measured
        return centring_rule.data_free(codes, fines)

    def _thr_weights(self, name: str, op: Any, s: Incoming, c: SteppedLayer,
                     nn_shape: tuple[int, ...], thr: np.ndarray) -> np.ndarray:
        """Weights in units of each target neuron's threshold (gain_i w_ij / thr_i). A conv shares
        its kernel over a channel, so gain / threshold must be uniform within each channel."""
        ratio = c.gain / thr
        if isinstance(s.op, GroupedSparse):  # its stored values only, each by its row's ratio
            return ratio[s.op.rows()] * s.op.weight
        if isinstance(s.op, GroupedDense):
            return ratio[:, None] * s.op.weight
        grid = ratio.reshape(nn_shape[0], -1)
        if not np.allclose(grid, grid[:, :1], rtol=1e-6, atol=0):
            raise unsupported(self.name, name, op, f"its threshold or gain differs within a "
                              f"channel of conv {s.name!r}, which shares one kernel per channel")
        return grid[:, 0][:, None, None, None] * s.op.weight
