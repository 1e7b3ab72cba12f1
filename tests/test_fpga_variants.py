"""Cheaper fpga variants that keep the emulator's arithmetic, checked for their resource claim and,
in Icarus, for bit- and cycle-exact equality with the emulator: the weight memory word follows each
Dense's num_weight_bits (Lava's grid leaves zero LSBs; the RTL stores w >> k and appends k zero
bits), and the "shift-add" decay datapath builds tz(x * D) without multipliers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_fpga_cosim import assert_lint_clean, assert_same, cosim, expected, random_graph

from snncompile.backends import fpga
from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.products import csd
from snncompile.backends.fpga.rtl import render, rtl_sources
from snncompile.backends.fpga.sim import simulate
from snncompile.estimate.analytic import memories
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph


def one_dense(w: np.ndarray, bits: int, mode: str = "auto") -> Graph:
    n_out, n_in = w.shape
    zero = np.zeros(n_out, np.int64)
    return check(Graph(level="hw", nodes={
        "in": hw.SpikeInput(shape=(n_in,)),
        "d": hw.Dense(weights=w, num_weight_bits=bits, sign_mode=mode),
        "l": hw.LIF(shape=(n_out,), du=4095, dv=0, vth=10, bias_mant=zero, bias_exp=zero),
        "out": hw.SpikeOutput(shape=(n_out,))},
        edges=(("in", "d"), ("d", "l"), ("l", "out"))))


@pytest.mark.parametrize("bits", range(1, 9))
def test_weight_word_is_num_weight_bits_wide(bits):
    """Mixed-sign weights: num_weight_bits signed bits; excitatory: num_weight_bits unsigned;
    inhibitory: num_weight_bits + 1 signed (the sign is stored; 1 bit holds {-1, 0})."""
    rng = np.random.default_rng(bits)
    full = np.concatenate([np.arange(-256, 256), rng.integers(-256, 256, 64)]).reshape(-1, 8)
    for mode, w, want in (("mixed", full, bits), ("excitatory", np.abs(full) % 256, bits),
                          ("inhibitory", -(np.abs(full) % 256), bits + (bits > 1))):
        (group,) = make_plan(one_dense(w, bits, mode)).cores[0].groups
        assert group.w_bits == want, (mode, group.w_bits)
        assert group.w_shift == 8 - bits + (mode == "mixed")
        words = {name: (n, b) for name, n, b in memories(make_plan(one_dense(w, bits, mode)))}
        assert words["core0.wmem0"][1] == want


@pytest.mark.parametrize("seed", range(8))
def test_narrow_weight_graphs_icarus_equal_model(seed, tmp_path):
    """Random multi-core graphs re-quantized to 1..4-bit weights: RTL == emulator exactly."""
    rng = np.random.default_rng(500 + seed)
    graph = random_graph(rng, ("normal", "stress", "lsb")[seed % 3])
    bits = 1 + seed % 4
    nodes = {n: (hw.Dense(weights=op.weights, weight_exp=op.weight_exp, num_weight_bits=bits,
                          sign_mode=op.sign_mode) if type(op) is hw.Dense else op)
             for n, op in graph.nodes.items()}
    graph = check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))
    plan = make_plan(graph)
    for c in plan.cores:
        for g in c.groups:
            if np.any(g.rows):
                assert g.w_bits <= bits + 1
    n_in = graph.shapes["in"][0]
    x = (rng.random((2, 6, n_in)) < 0.5).astype(np.int8)
    _, want, got = cosim(graph, x, 8, tmp_path)
    assert_same(want, got)


def test_narrow_weights_lint_wall_clean(tmp_path):

    for bits in (1, 3, 8):
        rng = np.random.default_rng(bits)
        graph = random_graph(rng, "normal")
        nodes = {n: (hw.Dense(weights=op.weights, weight_exp=op.weight_exp, num_weight_bits=bits,
                              sign_mode=op.sign_mode) if type(op) is hw.Dense else op)
                 for n, op in graph.nodes.items()}
        graph = check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))
        assert_lint_clean(tmp_path, render(make_plan(graph)))


def test_csd_digits_sum_to_the_factor():
    for n in range(1, 4097):
        terms = csd(n)
        assert sum(sign << shift for sign, shift in terms) == n
        shifts = [shift for _, shift in terms]
        assert all(b - a >= 2 for a, b in itertools.pairwise(shifts))  # non-adjacent: fewest digits


@pytest.mark.parametrize("seed", range(9))
def test_shift_add_decay_icarus_equals_model(seed, tmp_path):
    """No multiplier in the cores, same u, v, spikes, stamps and cycles as the emulator."""

    rng = np.random.default_rng(900 + seed)
    graph = random_graph(rng, ("normal", "stress", "lsb")[seed % 3])
    folder = tmp_path / "build"
    folder.mkdir()
    fpga.write(graph, folder, decay="shift-add")
    cores = [p.read_text() for p in (folder / "rtl").glob("snn_core*.v")]
    code = [line.split("//")[0] for body in cores for line in body.splitlines()]
    assert code and not any(" * " in line for line in code)  # no multiply operator left
    n_in = graph.shapes["in"][0]
    x = (rng.random((2, 7, n_in)) < 0.5).astype(np.int8)
    plan, want = expected(graph, x, 9)
    got = simulate(folder / "rtl", tmp_path / "work", x, 9, plan.n_in, state_dump=True)
    assert_same(want, got)
    assert_lint_clean(folder / "rtl", sources=rtl_sources(render(plan, decay="shift-add")))


def test_cli_decay_option_builds_the_variant_and_runs_like_the_emulator(tmp_path):
    """`snncompile compile --target fpga --decay shift-add` writes multiplier-free cores whose
    Icarus run equals the emulator; the option on another target is one sentence, exit 1."""
    from pathlib import Path

    from test_cli import assert_one_sentence_error, snncompile

    from snncompile import api
    from snncompile.sim.emulator import run_emulator

    digits = Path(__file__).parents[1] / "examples/digits/digits.pt"
    result = snncompile("compile", str(digits), "--target", "fpga", "--decay", "shift-add",
                        "-o", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    code = [line.split("//")[0] for p in (tmp_path / "b/rtl").glob("snn_core*.v")
            for line in p.read_text().splitlines()]
    assert code and not any(" * " in line for line in code)
    x = (np.random.default_rng(5).random((2, 6, 64)) < 0.3).astype(np.int8)
    spikes, _ = api.run_build(tmp_path / "b", x)
    np.testing.assert_array_equal(spikes, run_emulator(api.compile_model(digits).hw_graph, x)
                                  .outputs["output"])
    assert_one_sentence_error(snncompile("compile", str(digits), "--target", "loihi2",
                                         "--decay", "shift-add", "-o", str(tmp_path / "c")),
                              "decay", "loihi2")
    assert not (tmp_path / "c").exists()
