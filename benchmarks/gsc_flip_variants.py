"""What moves the NeuroBench keyword model's speech flips (--weight-split, --calibration, the two
folds of benchmarks/floor_centring.py): per variant of the first layer's arithmetic, the spike
entries that differ from snnTorch's per layer (fed the int8 input the chip receives) and the
classes equal to snnTorch's of 210, with snnTorch's margin on each flip. Variants:

- calibrated: the compiler as it is (calibrated floor centring and headroom);
- no_centring_1: without the first layer's centring bias;
- round: no first-layer centring; instead each flooring input Dense rounds to nearest, by an
  extra input channel of constant payload 1 whose weight is half a unit inside the floor
  (2^(-weight_exp - 1)): exact on the chip (silent steps add floor(1/2) = 0), but a new input
  column, so measured here by graph surgery, not built by the compiler;
- round_coarse: the same on the coarse Dense only (the fine twin's floor uncorrected);
- peak_1 / peak_1_fine: the first layer's headroom from its float peak (211 thresholds; its
  calibrated range keeps 165), the fine twin as the compiler decides / always kept;
- bits2 / round_bits2: 2-bit input payloads (S2S events are exactly -1/0/+1, payload +-1
  instead of +-127), which moves the input Denses' exponents up by 7 so the fine twin is no
  longer held at Lava's weight_exp >= -8; and that with round, without the first layer's
  centring, with the first layer's headroom at its peak.

    python benchmarks/gsc_flip_variants.py [VARIANT ...]
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import floor_centring
from floor_centring import LAYERS, inputs, lowered, snntorch_spikes
from neurobench_gsc import neurobench_class, on_input_grid

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.passes import analog, vth_search
from snncompile.passes import headroom as headroom_rule
from snncompile.passes import quantize as qz
from snncompile.passes.encode import encode_weights, fit_exponent
from snncompile.sim.emulator import run_emulator

PEAK_1 = 211.0  # the first layer's float |v| peak on speech, in thresholds (benchmarks/gsc_flips)


def _always_fine(x, code, vth, target, bits=8, mag=1):
    residual = x - code.weights * 2.0**code.weight_exp / vth
    e = fit_exponent(residual, vth, target, bits=bits)
    return None if e is None else encode_weights(residual, vth, e, target, bits=bits)


@contextlib.contextmanager
def patched(centre_input: bool = True, peak: float | None = None, fine: bool = False,
            bits: int = analog.BITS):
    """The compiler with the first layer changed: its centring off, its headroom range, the
    fine twin always kept, the analog input's payload bits."""
    saved = (qz.Quantize._centring, headroom_rule.measured_ranges,
             vth_search.fine_twin, floor_centring.with_input_kind)

    def centring(self, syns, codes, fines, n):
        if not centre_input and any(s.source == "input" for s in syns):
            return 0.0
        return saved[0](self, syns, codes, fines, n)

    def ranges(graph, recorded):
        out = saved[1](graph, recorded)
        return out if peak is None else {**out, LAYERS[0]: peak}

    qz.Quantize._centring, headroom_rule.measured_ranges = centring, ranges
    vth_search.fine_twin = _always_fine if fine else saved[2]
    floor_centring.with_input_kind = functools.partial(saved[3], bits=bits)
    try:
        yield
    finally:
        qz.Quantize._centring, headroom_rule.measured_ranges, vth_search.fine_twin = saved[:3]
        floor_centring.with_input_kind = saved[3]


def round_columns(g: Graph, which=("1", "1.fine")) -> tuple[Graph, int]:
    """g with one constant input column per flooring Dense in `which`, weighted half a unit."""
    (inp,) = g.inputs
    n_in, src = g.shapes[inp][0], g.nodes[inp]
    nodes = dict(g.nodes)
    nodes[inp] = hw.AnalogInput((n_in + len(which),), scale=src.scale, bits=src.bits)
    for name in g.successors(inp):
        op = g.nodes[name]
        w = np.zeros((op.weights.shape[0], n_in + len(which)), np.int64)
        w[:, :n_in] = op.weights
        if name in which and op.weight_exp < 0:
            w[:, n_in + which.index(name)] = 1 << (-op.weight_exp - 1)
        nodes[name] = hw.Dense(w, weight_exp=op.weight_exp, num_weight_bits=op.num_weight_bits,
                               sign_mode=op.sign_mode)
    return Graph(g.level, nodes, g.edges, g.dt, g.meta), len(which)


def build(fold: int, round_which=(), **changes) -> tuple[Graph, int]:
    with patched(**changes):
        g = lowered("speech", "calibrated", 0, fold)[0]
    return round_columns(g, round_which) if round_which else (g, 0)


BOTH = ("1", "1.fine")
VARIANTS = {
    "calibrated": {},
    "no_centring_1": {"centre_input": False},
    "round": {"centre_input": False, "round_which": BOTH},
    "round_coarse": {"centre_input": False, "round_which": ("1",)},
    "peak_1": {"peak": PEAK_1},
    "peak_1_fine": {"peak": PEAK_1, "fine": True},
    "bits2": {"bits": 2},
    "round_bits2": {"centre_input": False, "round_which": BOTH, "bits": 2},
    "bits2_no_centring_1": {"centre_input": False, "bits": 2},
    "bits2_peak_1": {"peak": PEAK_1, "bits": 2},
}


def measure(name: str, want: dict) -> None:
    same, margins, differ = 0, [], np.zeros(len(LAYERS), int)
    for fold, (x, theirs) in want.items():
        g, extra = build(fold, **VARIANTS[name])
        scale = g.nodes[g.inputs[0]].scale
        fed = np.concatenate([x, np.full((*x.shape[:2], extra), scale, x.dtype)], axis=-1)
        ours = run_emulator(g, fed, record=True).spikes
        differ += [int((ours[k] != theirs[k]).sum()) for k in LAYERS]
        a, b = neurobench_class(ours[LAYERS[-1]]), neurobench_class(theirs[LAYERS[-1]])
        same += int((a == b).sum())
        top = np.sort(theirs[LAYERS[-1]].sum(1), 1)[:, ::-1]
        margins += [int(top[i, 0] - top[i, 1]) for i in np.nonzero(a != b)[0]]
    print(f"{name:>14}: classes {same} of 210; differing spike entries per layer "
          f"{differ.tolist()}; snnTorch's margin on the flips {sorted(margins)}", flush=True)


def main() -> None:
    names = sys.argv[1:] or list(VARIANTS)
    want = {}
    for fold in (0, 1):
        x, rng = inputs("speech", 0, fold)
        want[fold] = (x, snntorch_spikes(on_input_grid(x, rng)))
    for name in names:
        measure(name, want)


if __name__ == "__main__":
    main()
