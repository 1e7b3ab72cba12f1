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
from snncompile.ir.sparse import nonzero_sparse
from snncompile.passes import adaptive as adaptive_rule
from snncompile.passes import centring as centring_rule
from snncompile.passes import headroom as headroom_rule
from snncompile.passes.analog import analog_input
from snncompile.passes.assemble import Incoming, assemble, incoming, layers_of
from snncompile.passes.common import unsupported
from snncompile.passes.delays import refuse_long_delays
from snncompile.passes.dry_run import at_rest, early_layers
from snncompile.passes.encode import (
    WeightCode,
    check_weight_bits,
    encode_bias,
    encode_weights,
    error_estimate,
    extremes,
    fit_exponent,
    limits,
    sign_mode_of,
)
from snncompile.passes.neuron_rules import hw_reset, neuron_coeffs, rule_of
from snncompile.passes.report import LayerQuant, QuantReport, SynapseQuant
from snncompile.target import Target


@dataclasses.dataclass
class LayerPlan:
    lif: hw.LIF | hw.ATRLIF
    synapses: list[tuple[Incoming, Any]]
    clock_codes: tuple[WeightCode, ...]  # bias-clock columns: coarse, then fine if split
    report: LayerQuant


class NeedsFlat(GraphCheckError):
    """Conv layers (C, H, W) whose bias must move to the bias clock (a Dense, flat): lower_to_hw
    lowers them flat (Dense inputs) and quantizes again."""

    def __init__(self, layers: frozenset[str]):
        super().__init__(f"pass quantize: layers {', '.join(sorted(layers))} need the bias clock, "
                         "which reaches flat layers only")
        self.layers = layers


def _shared_or_list(values: np.ndarray) -> int | tuple[int, ...]:
    """A report field: the one value all neurons share, or every neuron's (flat, C order)."""
    flat = np.asarray(values).reshape(-1)
    return int(flat[0]) if np.all(flat == flat[0]) else tuple(int(v) for v in flat)


def _per_neuron(x: np.ndarray, conv: bool, n: int, sign: float) -> np.ndarray:
    """Per target neuron, the sum of clip(sign * x, 0) over its row (a conv's per channel,
    repeated), a block of rows at a time: each row is summed as the whole array's sum would, and
    no temporary of the matrix's size is made."""
    rows = max(1, (1 << 18) // max(1, x[:1].size))
    axes = (1, 2, 3) if conv else 1
    sums = np.concatenate([np.clip(x[a:a + rows] if sign > 0 else -x[a:a + rows], 0, None)
                           .sum(axis=axes) for a in range(0, len(x), rows)] or [np.zeros(0)])
    return np.repeat(sums, n // len(x)) if conv else sums


def param_groups(op: Any) -> int:
    """Distinct integer tuples of a hw neuron's per-neuron fields (LIF: du, dv, vth; ATRLIF: its
    deltas, theta_0, theta_step): the populations Lava's own LIF / ATRLIF would need if the layer
    were split into groups that share them (1 for a uniform layer)."""
    if not isinstance(op, (hw.LIF, hw.ATRLIF)) or not op.heterogeneous:
        return 1
    n = int(np.prod(op.shape))
    cols = [np.broadcast_to(np.asarray(getattr(op, k)), op.shape).reshape(n)
            for k in op.PER_NEURON]
    return len(np.unique(np.stack(cols, axis=1), axis=0))


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
        xs = [x * analog.scale if m > 1 and analog else x for x, m in zip(xs, mags)]
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

        need = self._headroom_need([x if m == 1 else x * m for x, m in zip(xs, mags)], syns,
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
        vth = self._search(name, op, groups, exts, vb, decays, cap, target, mags)

        codes = [encode_weights(x, vth, fit_exponent(x, vth, target, conv, exps, bits, ext),
                                target, conv, bits, ext)
                 for (x, conv, exps, bits), ext in zip(groups, exts)]
        fines = self._fines(groups, codes, vth, target, clock_x is not None, mags)
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
        hw_syns = [(s, self._hw_synapse(s, code, self.weight_bits)) for s, code in zip(syns, codes)]
        sq = [self._syn_report(s.name, s.source, s.form, code) for s, code in zip(syns, codes)]
        if clock_x is not None:
            sq.append(self._syn_report(f"{name}.bias", "bias_clock", "bias", codes[-1]))
        for i, fine in enumerate(fines):
            if fine is not None:  # the pair's error is what the fine part leaves
                sq[i] = dataclasses.replace(sq[i], max_err_thr=fine.max_err,
                                            max_err_lsb=fine.max_err / sq[i].lsb_thr)
                sq.append(self._syn_report(f"{sq[i].name}.fine", sq[i].source, "fine", fine))
        for s, fine in zip(syns, fines):
            if fine is not None:
                twin = s._replace(name=f"{s.name}.fine")
                hw_syns.append((twin, self._hw_synapse(twin, fine, self.weight_bits)))
        clock_codes = () if clock_x is None else tuple(
            code for code in (codes[-1], fines[-1]) if code is not None)
        route = "+".join(r for r, on in (("neuron", has_bias), ("clock", bool(clock_codes))) if on)
        scale = 64.0 * vth / float(np.mean(thr))  # per neuron 64 vth / thr_i when they differ
        report = LayerQuant(
            layer=name, kind=type(op).__name__, neurons=int(np.prod(shape)), depth=c.depth,
            vth=vth,
            scale=scale, threshold_err=0.0, du=_shared_or_list(du), dv=_shared_or_list(dv),
            du_err=du_err, dv_err=dv_err, bias_route=route or "-", bias_err_thr=bias.max_err,
            headroom_thr=(target.uv_max - 1) / (64.0 * vth), synapses=tuple(sq),
            warnings=tuple(warnings), param_groups=param_groups(lif))
        return LayerPlan(lif, hw_syns, clock_codes, report)

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

    @staticmethod
    def _headroom_need(xs, syns, clock_x, vb, alpha, beta) -> float:
        """Worst-case |u|, |v| in thresholds over the layer's neurons (alpha, beta per neuron)."""
        n = len(vb)
        pos, neg = np.zeros(n), np.zeros(n)
        for x, s in zip(xs + [clock_x], syns + [None]):
            if x is None:
                continue
            if s is not None and isinstance(s.op, GroupedSparse):  # stored values by row
                rows = s.op.rows()
                pos += np.bincount(rows, np.clip(x, 0, None), minlength=n)
                neg += np.bincount(rows, np.clip(-x, 0, None), minlength=n)
                continue
            conv = s is not None and isinstance(s.op, GroupedConv)
            pos += _per_neuron(x, conv, n, 1.0)
            neg += _per_neuron(x, conv, n, -1.0)
        u = np.maximum(pos, neg) / alpha
        v_pos = 1 + u + np.clip(vb, 0, None)
        leaky = beta > 0
        v_neg = np.where(leaky, (u + np.clip(-vb, 0, None)) / np.where(leaky, beta, 1.0), 0.0)
        return float(max(u.max(initial=0), v_pos.max(initial=0), v_neg.max(initial=0)))

    def _search(self, name, op, groups, exts, vb, decays, cap, target, mags) -> int:
        """The vth of least worst-case error per step; `mags[i]`: the largest input payload of
        group i (1 for spikes, an analog input's qmax), which multiplies its weight error;
        `exts[i]`: group i's weights' (min, max) (encode.extremes)."""
        if cap < 1:
            raise unsupported(self.name, name, op, "the requested headroom leaves no threshold")
        cands = {cap} | {1 << j for j in range(cap.bit_length())}
        for (x, conv, exps, bits), ext in zip(groups, exts):
            lo, hi, _ = limits(sign_mode_of(x, ext), target, conv, bits)
            top, bottom = float(max(ext[1], 0)), float(min(ext[0], 0))
            ratio = min(hi / top if top > 0 else np.inf, lo / bottom if bottom < 0 else np.inf)
            if not np.isfinite(ratio):
                continue
            e_lo, e_hi = (0, 0) if conv else exps or (target.weight_exp_min, target.weight_exp_max)
            # a candidate > cap is dropped; f > 1: weights on a grid (QAT) sit 1e-7 short of it
            cands |= {int(min(ratio * 2.0**e * f, cap + 1)) for e in range(e_lo, e_hi + 1)
                      for f in (1.0, 1.0 + 1e-6)}
        scored = []
        for vth in sorted(v for v in cands if 1 <= v <= cap):
            err = 0.0
            for (x, conv, exps, bits), mag, ext in zip(groups, mags, exts):
                e = fit_exponent(x, vth, target, conv, exps, bits, ext)
                if e is None:
                    break
                if exps is not None:  # a bias-clock column: always split, so its pair's error
                    err = max(err, self._pair_error(x, vth, e, target, bits, ext))
                    continue
                floor = 1.0 / vth if e < 0 else 0.0  # one floor per step, whatever the payload
                est = error_estimate(x, vth, e, target, conv, bits=bits, ext=ext)
                err = max(err, mag * (est - floor) + floor)
            else:
                err += encode_bias(vb, vth, target).max_err + decays / (64.0 * vth)
                scored.append((err, vth))
        if not scored:
            top = max(max(abs(lo), abs(hi)) for lo, hi in exts)
            most = max(limits("excitatory", target, conv, bits)[1]
                       * 2.0**(0 if conv else target.weight_exp_max) for _, conv, _, bits in groups)
            raise unsupported(self.name, name, op, f"its weights reach {top:.3g} thresholds per "
                              f"spike; this target holds at most {most:g} (at vth = 1)")
        best = min(err for err, _ in scored)
        return max(vth for err, vth in scored if err <= best * (1 + 1e-9) + 1e-15)

    def _pair_error(self, x: np.ndarray, vth: int, e: int, target: Target, bits: int,
                    ext: Any) -> float:
        """A bias-clock column's worst error with the fine twin `plan` gives it (ranking by the
        coarse code alone pulled vth off a QAT model's weight grid for an error the twin fixes)."""
        code = encode_weights(x, vth, e, target, False, bits, ext)
        fine = self._fine(x, code, vth, target, bits)
        return code.max_err + code.floor_err if fine is None else (
            fine.max_err + fine.floor_err + code.floor_err)

    def _fines(self, groups: list, codes: list[WeightCode], vth: int, target: Target,
               has_clock: bool, mags: list[int]) -> list[WeightCode | None]:
        """A fine twin per code, or None: always for the bias-clock column (a bias enters u at
        synaptic resolution every step; the twin costs one synapse per neuron), for every Dense
        when split_weights, never for a Conv (Lava's Conv has no exponent to refine with).
        `mags[i]`: group i's largest input payload (an analog input's qmax), which multiplies
        its weight error but not the floor."""
        last = len(codes) - 1
        return [self._fine(x, code, vth, target, bits, mag)
                if (has_clock and i == last) or (self.split_weights and not conv) else None
                for i, ((x, conv, _, bits), code, mag) in enumerate(zip(groups, codes, mags))]

    @staticmethod
    def _fine(x: np.ndarray, code: WeightCode, vth: int, target: Target,
              bits: int = 8, mag: int = 1) -> WeightCode | None:
        """The residual x - dequant(code) as a second Dense code, kept only if the pair's worst case
        is at least twice as good: a negative exponent adds Lava's floor of each step's sum (up to
        1/vth thresholds, always downward), which can cost more than a fine grid saves. The weight
        errors scale with the payload `mag` (an analog input's up to 127 per weight), the floor
        does not: on graded input the twin almost always pays."""
        residual = x - code.weights * 2.0**code.weight_exp / vth
        e = fit_exponent(residual, vth, target, bits=bits)
        if e is None or not np.any(np.abs(residual) * vth / 2.0**e >= 1 << (8 - bits)):
            return None
        fine = encode_weights(residual, vth, e, target, bits=bits)
        worst_before = mag * code.max_err + code.floor_err
        worst_after = mag * fine.max_err + fine.floor_err + code.floor_err
        return fine if worst_after <= worst_before / 2 else None

    @staticmethod
    def _hw_synapse(s: Incoming, code: WeightCode, bits: int = 8) -> Any:
        op = s.op
        if isinstance(op, GroupedConv):
            return hw.Conv(code.weights, stride=op.stride, padding=op.padding,
                           dilation=op.dilation, groups=op.groups)
        if isinstance(op, GroupedSparse):
            return nonzero_sparse(op.matrix_shape, op.indptr, op.indices, code.weights,
                                  weight_exp=code.weight_exp, num_weight_bits=bits,
                                  sign_mode=code.sign_mode)
        if op.delays is not None:
            return hw.DelayDense(code.weights, weight_exp=code.weight_exp, num_weight_bits=bits,
                                 sign_mode=code.sign_mode, delays=op.delays)
        return hw.Dense(code.weights, weight_exp=code.weight_exp, num_weight_bits=bits,
                        sign_mode=code.sign_mode)

    @staticmethod
    def _syn_report(name: str, source: str, kind: str, code: WeightCode) -> SynapseQuant:
        return SynapseQuant(name, source, kind, code.sign_mode, code.weight_exp, code.bits,
                            code.lsb, code.max_err, code.max_err / code.lsb if code.lsb else 0.0,
                            code.floor_err)
