"""`--weight-bits N`: the quantizer picks only weights Lava keeps at num_weight_bits N.

Proved against Lava's own weight preprocessing (lava.utils.weightutils clip_weights +
truncate_weights, what lava/proc/dense/models.py applies once): the integers our encoder may emit
at N bits are exactly the ones Lava leaves unchanged. Emulator vs Lava at every num_weight_bits is
the hypothesis suite of test_lava_differential.py (hw_strategies draws num_weight_bits 1..8);
test_qat.py runs a compiled 2-bit model through Lava end to end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.passes.encode import limits
from snncompile.sim.emulator import run_emulator
from snncompile.target import load_target
from snncompile.verify import predictions

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
TARGET = load_target("loihi2")
MODES = ("excitatory", "inhibitory", "mixed")


def _lava_keeps(mode: str, bits: int) -> set[int]:
    """Integers in [-300, 300] that Lava's Dense preprocessing maps to themselves."""
    from snncompile.lava_compat import require_lava

    require_lava()
    from lava.utils.weightutils import SignMode, clip_weights, truncate_weights

    sign = {"excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY,
            "mixed": SignMode.MIXED}[mode]
    w = np.arange(-300, 301)
    out = truncate_weights(clip_weights(w, sign, num_bits=8), sign, bits)
    return {int(v) for v, o in zip(w, out) if v == o}


@pytest.mark.parametrize("bits", range(1, 9))
def test_weight_grid_is_what_lava_keeps(bits):
    for mode in MODES:
        lo, hi, step = limits(mode, TARGET, False, bits)
        assert set(range(lo, hi + 1, step)) == _lava_keeps(mode, bits), (mode, bits)


def _digits_split():
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    return load_split()


def test_digits_error_and_accuracy_degrade_with_fewer_bits():
    """Measured on the shipped digits model (test split, 360 samples): worst weight error per
    layer grows as N shrinks, each Dense carries N and only weights Lava keeps, accuracy holds
    down to 3 bits and collapses at 2 (see examples/qat/README.md for the table)."""
    _, _, x, y = _digits_split()
    x = x[:200]
    errors, accuracy = {}, {}
    for bits in range(2, 9):
        result = api.compile_model(DIGITS, "emu", weight_bits=bits)
        assert result.report.weight_bits == bits
        for name, op in result.hw_graph.nodes.items():
            if type(op) is hw.Dense and not name.startswith("bias_clock"):
                lo, hi, step = limits(op.sign_mode, TARGET, False, bits)
                w = np.asarray(op.weights)
                assert op.num_weight_bits == (8 if name.endswith(".bias") else bits), name
                if not name.endswith(".bias"):
                    assert w.min() >= lo and w.max() <= hi and not np.any(w % step), (name, bits)
        errors[bits] = [layer.max_err_thr for layer in result.report.layers]
        assert all(layer.bits <= bits for layer in result.report.layers)
        (out,) = result.hw_graph.outputs
        spikes = run_emulator(result.hw_graph, x).outputs[out]
        accuracy[bits] = float(np.mean(predictions(spikes) == y[:200]) * 100)
    for bits in range(2, 8):
        assert all(a > b for a, b in zip(errors[bits], errors[bits + 1])), errors
    assert min(accuracy[b] for b in range(3, 9)) > 90, accuracy
    assert accuracy[2] < accuracy[8] - 30, accuracy


def test_conv_weights_keep_the_same_magnitude():
    torch.manual_seed(0)
    import snncompile.nn as snn

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), snn.LIF((2, 4, 4)),
                                torch.nn.Flatten(), torch.nn.Linear(32, 3), snn.LIF(3))
    graph = from_module(model, (1, 6, 6))
    for bits in (2, 5, 8):
        hw_graph, report = api.lower(graph, "loihi2", weight_bits=bits)
        (conv,) = [op for op in hw_graph.nodes.values() if isinstance(op, hw.Conv)]
        step = 1 << (8 - bits)
        w = np.asarray(conv.weight)
        assert not np.any(w % step) and np.abs(w).max() <= 256 - step
        assert np.count_nonzero(w) > 0 and report.weight_bits == bits


@pytest.mark.parametrize("bad", [0, 9, -1, 2.5, True, "4"])
def test_invalid_weight_bits_is_refused_with_a_sentence(bad):
    graph = api.load(DIGITS)
    with pytest.raises(SnnCompileError, match=r"weight bits must be an integer from 1 to 8"):
        api.lower(graph, "emu", weight_bits=bad)


def test_weight_bits_through_the_cli_and_manifest(tmp_path, capsys):
    from snncompile.cli import main

    build = tmp_path / "build"
    main([str(DIGITS), "--weight-bits", "3", "-o", str(build)])
    assert "weights: 3 bits" in capsys.readouterr().out
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["quantization"]["weight_bits"] == 3
    with pytest.raises(SystemExit) as exit_:
        main([str(DIGITS), "--weight-bits", "9"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: weight bits must be an integer from 1 to 8 (the num_weight_bits of target "
        "'emu'), not 9")


def test_narrower_weights_take_less_synapse_memory():
    """The partitioner stores num_weight_bits per weight, not the truncated zeros below them."""
    used = {}
    for bits in (2, 4, 8):
        placement = api.compile_model(DIGITS, "loihi2", weight_bits=bits).placement
        (row,) = [r for r in placement.utilization_rows() if r["resource"] == "synapse_bits"]
        used[bits] = row["used"]
    assert used[2] < used[4] < used[8], used
