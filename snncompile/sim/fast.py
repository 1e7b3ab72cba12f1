"""Layer-major emulation of feed-forward hw graphs: the integers of emulator.simulate, faster.

emulator.simulate steps time in the outer loop, so every synapse does one small product per step
and every LIF one kernel call per step. Without recurrent edges every population's whole spike
train is known before its consumers run, so this module walks the graph in schedule order
instead: each LIF's synapses handle all (sample x step) rows of a batch chunk in one product (an
int8 x int8 -> int32 product for Dense, int_weights.IntWeights), and the compiled LIF kernel
(kernels.lif_run, the same one the stepwise path calls) reads that register with one step of
latency (step t reads the row of source step t - 1) while it loops over time.

Arrays are batch-major (batch, steps, n), the layout SimTrace returns, so spikes are written once,
as int8. Registers are int32 (the a_out channel's width) and exist for one block of (samples x
steps) at a time (BLOCK_BYTES, about a cache's size: the product writes it, the kernel reads it
while it is still in cache; at batch 1 less, so a block's temporaries stay within the bytes of
the run's spike trains, `block_budget`), so no temporary grows with the batch's spike train.

Used by emulator.simulate when `applicable` holds (no strict-mode events, no initial state, no
recurrence, plain LIF populations fed only through Dense / Conv / DelayDense / Sparse); else it
steps.
tests/test_fast_emulator.py compares both paths on random graphs; the fpga cosims compare this
path with the RTL.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim import conv_product, narrow_lif
from snncompile.sim.fixed import SimTrace
from snncompile.sim.kernels import NO_RECORD, dense_lif_run

BLOCK_BYTES = 2**20  # the largest per-block register or conv input, in bytes
# a LIF fed by a Conv: larger blocks, fewer conv2d calls. CPU time of the NIR-paper CNN at batch
# 64 / 256 (µs per sample-step, load about 3, two runs): 57 / 55-57 at 2^20, 51-53 / 48 at
# 2^21, 51-52 / 49-51 at 2^22, 57-69 / 54-65 at 2^23.
CONV_BLOCK_BYTES = 2**21
# ... but a block's temporaries together stay within the bytes the run holds anyway (its int8
# spike trains: the input and every population), so a small run's temporaries do not outgrow
# it (issue 19: peak RSS under 2x the run's bytes, batch 1 too): the widest is at most those
# bytes over the arrays of its width a block holds at once (a Dense: its int32 register; a
# Conv: the float32 input and output, their int32 copy and the conv's own scratch), and at
# least MIN_BLOCK_BYTES (fewer bytes: more per-block calls than work). Batch 1, peak RSS rise
# over the run's bytes (benchmarks/emulator_memory.py, with the register freed before the next
# block's product): dense net 2.5x -> 0.4-0.8x, NIR CNN 5.1x -> 0.6x. CPU µs per sample-step,
# old and new rule in alternating fresh processes, load about 4: dense net batch 1 1.98-2.18 /
# 2.03-2.09, CNN batch 1 61-76 / 59-61; batch 8 equal within the noise (1.26-1.55, 36-48).
# The strict measure (malloc_trim(0) first, so no page the warm-up freed hides one the run
# touches) read the CNN at batch 1 at 2.1x with 4 conv arrays (2.9 of its 1.4 MiB): VmHWM probes
# per conv2d call show each Conv-fed layer's first block adding about 2 widest arrays (its float32
# output and the conv's scratch, over the float32 input) and the next about 1 more (fresh pages),
# besides the layer's spike train: the temporaries dominate. Counting 8: 1.5x (2.1 MiB), 6: 1.8x,
# 16 and 32 read as 8 (MIN_BLOCK_BYTES binds). CPU µs per sample-step, 4 vs 8, one thread,
# alternating in one process, medians of 5 (range): batch 1 62 (57-71) vs 79 (72-83), batch 8
# 52 (36-73) vs 55 (40-56); batch 64 and 256 keep CONV_BLOCK_BYTES: 36 vs 35, 34 vs 34.
# Since conv_product sums sparse blocks spike by spike at any size (its int32 register the only
# wide temporary), "conv" sizes a Conv-fed block and "conv2d" the parts of it that conv_product
# sends to conv2d (denser or graded blocks: the 8 arrays above). NIR CNN batch 1, "conv" 8 / 4
# / 2 / 1: CPU µs per sample-step alternating in one process, medians of 101, 40.6 / 37.8 /
# 36.1 / 35.6, again 42.7 / 39.9 / 37.0 / -; peak RSS rise over the run's bytes (emulator_memory
# --one cnn,1,100) 1.19x / 1.43x / 1.62x / 2.01x; 4 (1.37x on the final code, 1.31x at T 300)
# keeps a margin under the 2x bar. Batch 2 to 8: 0.97-1.01 of "conv" 8 (alternating, medians
# of 31).
BLOCK_TEMPORARIES = {"dense": 1, "conv": 4, "conv2d": 8}
MIN_BLOCK_BYTES = 2**16
# a Dense from a binary train is summed row by row (kernels.dense_lif_run) when its rows' share
# of the n_in row additions, min(active, silent) / n_in, is at most SPIKE_SUM_SHARE -
# SPIKE_SUM_SCAN / n_out; else the int8 product over blocks. The scan of a row's n_in sources
# costs about SPIKE_SUM_SCAN weight additions per source, paid once for all n_out outputs, so
# narrow layers never pay (n_out <= 189). Fitted to the crossovers of one Dense -> LIF layer
# (weights -60..79, int8 rows summed in int16 lanes; batch 64, T 500, random trains, CPU time,
# summed and blocked alternating in one process, median of 9 ratios summed / blocked; load
# 1.1-1.4): 128 -> 512 0.80 at 5 %, 0.95-0.98 at 10 %, 1.05 at 15 % (and 1.05 at 85-90 %);
# 512 -> 256 0.72 at 2 %, 0.88-0.94 at 4 %, 1.09 at 6 %, 0.94 at 96 %; 256 -> 1024 0.85 at 14 %,
# 1.04 at 18 %; 128 -> 128 1.18 at 1 %; int32 sums (a right shift) 128 -> 512 0.97 at 9 %,
# 1.00 at 12 %. The rule's edges: 12 % (512 outputs), 5 % (256), 15.5 % (1024). On the
# dense net (vs_peers, input 10 %, layer 1 fires 79 %, layer 2 99.5 %) layer 1 is summed,
# a tie from batch 8: µs per sample-step inside the whole net, summed / blocked, alternating,
# medians of 9 (15 at batch 1): batch 1 0.54 / 0.62, 8 0.462 / 0.462, 64 0.472 / 0.455, 256
# 0.480 / 0.475. Layers 2 and 3 are not; the 10-neuron layer 3 (99.5 %) summed / narrow_lif:
# batch 8 0.115 / 0.095, 64 0.109 / 0.081, 256 0.114 / 0.073. Before issue 19 the sums ran in
# int64 lanes (numba's int16 + int16) and the rule was 4 %.
SPIKE_SUM_SHARE = 0.19
SPIKE_SUM_SCAN = 36
# ... and a population narrower than one vector (narrow_lif.LANES) of at most
# SPIKE_SUM_FEW_SAMPLES samples (fewer than narrow_lif takes: its register would be blocked) is
# summed where the wanted sources are rare enough for _spike_sum's word scan (SPIKE_SUM_RARE).
# vs_peers' 10-neuron layer (256 sources at 99.5 %), µs per sample-step inside the whole net,
# summed / blocked, alternating, medians of 15: batch 1 0.130 / 0.189, 2 0.132 / 0.145, 4
# 0.110 / 0.102.
SPIKE_SUM_RARE = 1 / 32
SPIKE_SUM_FEW_SAMPLES = 2


def applicable(g: Graph, strict: bool, initial_state: Any) -> bool:
    if strict or initial_state or g.recurrent_edges:
        return False
    for n, op in g.nodes.items():
        if op.kind == "neuron":
            if type(op) is not hw.LIF:
                return False
            if any(type(g.nodes[p]) not in (hw.Dense, hw.Conv, hw.DelayDense, hw.Sparse)
                   for p in g.predecessors(n)):
                return False
    return True


def _size(shape: tuple) -> int:
    """The number of elements of a shape: math.prod, where np.prod took about 5 µs a call
    (some 45 calls a run; the NIR-paper CNN at batch 1, T 100, CPU µs per sample-step, np.prod
    / math.prod alternating in one process, medians of 101: 30.6 / 28.7)."""
    return int(math.prod(shape))


def _rows(srcs: list[np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Source steps lo..hi - 1 of the (OR of the) sources, as contiguous int8 rows."""
    parts = [src[:, lo:hi] for src in srcs]
    both = parts[0] if len(parts) == 1 else np.bitwise_or.reduce(parts)
    return np.ascontiguousarray(both).reshape(-1, both.shape[2])


def _product(synapse: Any, rows: np.ndarray, conv2d_rows: int | None) -> np.ndarray:
    """A row-wise synapse's wrapped register (m, n_out) int32 for spike rows (m, n_src) int8;
    a Conv's conv2d runs on parts of at most conv2d_rows rows (None: all at once)."""
    if type(synapse).__name__ == "_Conv":
        return conv_product.product(synapse, rows, conv2d_rows)
    return synapse.product(rows)


def _register(synapse: Any, srcs: list[np.ndarray], s0: int, s1: int,
              conv2d_rows: int | None = None) -> np.ndarray:
    """The synapse's a_out register (batch, s1 - s0, n_out) int32 after source steps s0..s1 - 1
    (0-based; steps before 0 send nothing) of its sources (batch, steps, n_src) int8: what its
    neurons read one step later. A DelayDense adds source step t - k for its delay-k weights."""
    batch = srcs[0].shape[0]
    n_out = synapse.register.shape[1]
    groups = synapse.groups if type(synapse).__name__ == "_DelayDense" else [(0, synapse)]
    if len(groups) == 1 and groups[0][0] == 0 and s0 >= 0:  # the common case: no padding
        return _product(groups[0][1], _rows(srcs, s0, s1), conv2d_rows).reshape(
            batch, s1 - s0, n_out)
    out = np.zeros((batch, s1 - s0, n_out), np.int32)
    for k, part in groups:
        lo, hi = max(s0 - k, 0), s1 - k
        if lo < hi:
            acc = _product(part, _rows(srcs, lo, hi), conv2d_rows).reshape(batch, hi - lo,
                                                                            n_out)
            out[:, lo + k - s0:] += acc  # int32 wraps, as the ring's wrap32 does
    return out


def _spike_sums(g: Graph, name: str, syn: dict, trains: dict) -> tuple | None:
    """kernels.dense_lif_run's weights (w, total, left) and source train when LIF `name` is fed
    by one Dense from one binary source (a LIF or the SpikeInput) whose rows are cheaper summed
    than multiplied: the share of row additions, min(active, silent) / n_in, estimated on about
    256 of its rows (a whole-sample count: per-row counts cost more than the choice saves at
    batch 1), is at most SPIKE_SUM_SHARE - SPIKE_SUM_SCAN / n_out, or at most SPIKE_SUM_RARE
    for a population narrower than narrow_lif's lanes in a run of a few samples."""
    preds = g.predecessors(name)
    if len(preds) != 1 or type(syn[preds[0]]).__name__ != "_Dense" or syn[preds[0]].graded:
        return None
    sources = g.predecessors(preds[0])
    if len(sources) != 1 or type(g.nodes[sources[0]]) not in (hw.LIF, hw.SpikeInput):
        return None
    weights = syn[preds[0]].int_weights
    rows = weights.spike_rows if weights.exact else None
    train = trains[sources[0]]
    if rows is None or train.size == 0:
        return None
    flat = train.reshape(-1, train.shape[2])
    # contiguous: count_nonzero on the strided rows took 47 vs 10 µs (259 rows of 512)
    sample = np.ascontiguousarray(flat[::max(1, len(flat) // 256)])
    density = np.count_nonzero(sample) / max(1, sample.size)
    # min(density, 1 - density) bounds the mean of min(active, silent) / n_in from above
    share, n_out = min(density, 1 - density), rows[0].shape[1]
    few = n_out < narrow_lif.LANES and len(train) <= SPIKE_SUM_FEW_SAMPLES
    pays = share <= SPIKE_SUM_SHARE - SPIKE_SUM_SCAN / n_out or few and share <= SPIKE_SUM_RARE
    return (*rows, train) if pays else None


def _folded_shift(syn: dict, preds: list[str]) -> int:
    """The a_out left shift k that the LIF kernel can apply instead of the product (its `up`
    = 6 + k: one pass less over each block's register) when the LIF's one synapse is a binary
    int8 Dense whose register is shifted left (k >= 0, 6 + k < 32); else 0 (the product
    shifts, as for sums of several synapses or a right shift)."""
    if len(preds) != 1 or type(syn[preds[0]]).__name__ != "_Dense" or syn[preds[0]].graded:
        return 0
    weights = syn[preds[0]].int_weights
    left = weights.shift + weights.e if weights.exact else -1
    return left if 0 <= left < 26 else 0


def block_budget(kind: str, held: int) -> int:
    """The bytes of a block's widest temporary (kind a key of BLOCK_TEMPORARIES): BLOCK_BYTES for
    "dense", else CONV_BLOCK_BYTES, at most the `held` bytes of the run's spike trains over
    BLOCK_TEMPORARIES[kind], at least MIN_BLOCK_BYTES."""
    cap = BLOCK_BYTES if kind == "dense" else CONV_BLOCK_BYTES
    return min(cap, max(MIN_BLOCK_BYTES, held // BLOCK_TEMPORARIES[kind]))


def _held_bytes(g: Graph, batch: int, steps: int) -> int:
    """The run's int8 spike trains: the input's and every population's (batch x steps each)."""
    return batch * steps * sum(_size(g.shapes[m])
                               for m in [*g.inputs, *g.of_kind("neuron")])


def _blocks(batch: int, steps: int, widths: list[int], budget: int) -> tuple[int, int]:
    """(samples, steps) per block so that the widest per-block temporary stays near `budget`
    bytes: small enough to stay in cache between the product and the LIF kernel."""
    rows = max(1, budget // (4 * max(widths, default=1)))
    span = min(steps, max(rows, 8))
    return max(1, min(batch, rows // span)), max(1, span)


class _Layer(NamedTuple):
    """One LIF population's run: its rule object, synapse names and outputs ((batch, steps, n)
    spikes int8, u / v records int32 or NO_RECORD, counts (steps,) int64 of spikes per step)."""

    neuron: Any
    preds: list[str]
    s: np.ndarray
    u_rec: np.ndarray
    v_rec: np.ndarray
    counts: np.ndarray


def _path(g: Graph, name: str, syn: dict, trains: dict, batch: int, record: bool
          ) -> tuple[str, tuple | None]:
    """How LIF `name` runs, chosen here once: "narrow" (narrow_lif, fewer than 16 neurons and
    no conv), "summed" (kernels.dense_lif_run, with _spike_sums' weights and train) or
    "blocked" (products over blocks, then kernels.lif_run)."""
    preds = g.predecessors(name)
    n = _size(g.shapes[name])
    if narrow_lif.chosen(n, batch, record) and all(
            type(syn[p]).__name__ != "_Conv" for p in preds):  # a conv's temporaries: blocks
        return "narrow", None
    sums = _spike_sums(g, name, syn, trains)
    return ("summed", sums) if sums is not None else ("blocked", None)


def _run_narrow(g: Graph, layer: _Layer, syn: dict, trains: dict, steps: int) -> None:
    """The whole register at once, the samples as lanes (narrow_lif)."""
    batch, _, n = layer.s.shape
    a = np.zeros((batch, steps, n), np.int32)
    for p in layer.preds:  # int32 wraps, as the wrap32 the kernel applies first
        a += _register(syn[p], [trains[q] for q in g.predecessors(p)], 0, steps)
    narrow_lif.run(layer.neuron, a, 1, layer.s, layer.counts)


def _run_summed(layer: _Layer, sums: tuple) -> None:
    """One Dense's rows summed inside the LIF kernel (kernels.dense_lif_run)."""
    neuron, src = layer.neuron, sums[3]
    words = (src.view(np.uint64) if src.shape[2] % 8 == 0 and src.flags.c_contiguous
             else np.zeros((0, 0, 0), np.uint64))
    acc = np.empty(layer.s.shape[2], sums[1].dtype)  # the sums' width (IntWeights.spike_rows)
    dense_lif_run(src, words, *sums[:3], acc, neuron.u, neuron.v, neuron.s_prev,
                  *neuron.factors, neuron.vth, neuron.bias, neuron.reset, neuron.interval,
                  neuron.phase, 1, layer.s, layer.u_rec, layer.v_rec, layer.counts, None)


def _run_blocked(g: Graph, layer: _Layer, syn: dict, trains: dict, record: bool) -> None:
    """The synapses' products over cache-sized blocks of (samples x steps), each block's
    register then read by kernels.lif_run."""
    neuron, preds, s = layer.neuron, layer.preds, layer.s
    batch, steps, n = s.shape
    conv_in = [trains[q].shape[2] for p in preds for q in g.predecessors(p)
               if type(syn[p]).__name__ == "_Conv"]
    held = _held_bytes(g, batch, steps)
    samples, span = _blocks(batch, steps, [n, *conv_in],
                            block_budget("conv" if conv_in else "dense", held))
    # the rows conv_product may send to conv2d at once: the "conv2d" budget (at least 8, as
    # _blocks' least span)
    conv2d_rows = max(8, block_budget("conv2d", held) // (4 * max([n, *conv_in])))
    fold = _folded_shift(syn, preds)
    # the one Dense's products (fold) go into one register reused block after block, still in
    # cache for the product and the kernel: vs_peers' dense net at batch 64, CPU µs per
    # sample-step, fresh / reused (alternating, medians of 9, load 3.5): 1.315 / 1.261,
    # 1.863 / 1.785; batch 8 1.271 / 1.229. One block (batch 1) allocates it as before.
    several = batch > samples or steps > span
    register = np.empty((samples * span, n), np.int32) if fold and several else None
    for b0 in range(0, batch, samples):
        rows = slice(b0, min(b0 + samples, batch))
        for t0 in range(0, steps, span):
            t1 = min(t0 + span, steps)
            s0 = max(t0 - 1, 0)  # source step -1 sends nothing: the kernel's lag reads 0
            # source steps s0..s1 - 1; whole samples take the last step too (read by no
            # step): the block is then one contiguous run of rows, which _rows need not copy
            s1 = t1 if t1 - t0 == steps else t1 - 1
            # (r too: the last block's register is freed before this block's product)
            a = r = np.zeros((len(s[rows]), 0, n), np.int32)
            for p in preds if s1 > s0 else ():
                srcs = [trains[q][rows] for q in g.predecessors(p)]
                if fold:  # the one Dense's product before its shift (the kernel's `up`)
                    m = len(srcs[0]) * (s1 - s0)
                    r = syn[p].int_weights.product(_rows(srcs, s0, s1), shift=False,
                                                   out=None if register is None else register[:m])
                    r = r.reshape(len(srcs[0]), s1 - s0, n)
                else:
                    r = _register(syn[p], srcs, s0, s1, conv2d_rows)
                if a.shape[1] == 0:
                    a = r
                else:
                    a += r  # int32 wraps, as the wrap32 the kernel applies first
            neuron.run(a, s0 - (t0 - 1), t0 + 1, s[rows, t0:t1],
                       layer.u_rec[rows, t0:t1] if record else NO_RECORD,
                       layer.v_rec[rows, t0:t1] if record else NO_RECORD,
                       layer.counts[t0:t1], rows, 6 + fold)


def simulate_layers(g: Graph, x: np.ndarray, steps: int, record: bool, syn: dict, lif: dict):
    """emulator.simulate for an `applicable` graph: the same SimTrace, computed layer by layer.
    x: (batch, steps_in, *in_shape) bool, or int8 payloads of an AnalogInput; syn, lif: the
    emulator's prepared rule objects."""
    (in_name,) = g.inputs
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    train = np.empty((batch, steps, _size(x.shape[2:])), np.int8)
    n_in = min(steps_in, steps)
    train[:, :n_in] = x[:, :n_in].reshape(batch, n_in, train.shape[2])
    train[:, n_in:] = 0
    trains = {in_name: train}
    spikes, u, v, step_spikes = {}, {}, {}, {}
    for name in g.schedule:
        if name not in lif:
            continue
        n = _size(shapes[name])
        layer = _Layer(lif[name], g.predecessors(name), np.empty((batch, steps, n), np.int8),
                       np.empty((batch, steps, n), np.int32) if record else NO_RECORD,
                       np.empty((batch, steps, n), np.int32) if record else NO_RECORD,
                       np.zeros(steps, np.int64))
        path, sums = _path(g, name, syn, trains, batch, record)
        if path == "narrow":
            _run_narrow(g, layer, syn, trains, steps)
        elif path == "summed":
            _run_summed(layer, sums)
        else:
            _run_blocked(g, layer, syn, trains, record)
        trains[name] = layer.s
        step_spikes[name] = layer.counts
        spikes[name] = layer.s.reshape(batch, steps, *shapes[name])
        if record:
            u[name] = layer.u_rec.reshape(batch, steps, *shapes[name])
            v[name] = layer.v_rec.reshape(batch, steps, *shapes[name])
    for n in g.outputs:
        spikes[n] = spikes[g.predecessors(n)[0]]
    return SimTrace(steps, spikes, u, v, [], {}, step_spikes)
