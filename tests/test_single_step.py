"""Single-step (T = 1) networks compile, run and verify on every back end.

Convention (docs/semantics.md): an input of T steps runs T + L hw steps (L = the deepest layer's
synaptic depth), and each layer is read L_k steps late, so T = 1 gives one output step, which is
the first step of any longer run on the same first input (causality). The nets here have biases,
so they carry the bias clock and a LIFReset layer, whose first real step must fall inside the run.
Independent sides: torch (the trainer's model), Lava fixed_pt and the Icarus RTL simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import snncompile.nn as snc
from snncompile import api
from snncompile.sim.emulator import run_emulator


def _net(recurrent: bool) -> torch.nn.Sequential:
    torch.manual_seed(0)
    hidden = snc.RLIF(8, beta=0.8, threshold=0.5) if recurrent else snc.LIF(8, beta=0.8,
                                                                          threshold=0.5)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), hidden, torch.nn.Linear(8, 3),
                              snc.LIF(3, beta=0.9, threshold=0.3)).double()
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[0].bias.fill_(0.6)  # fires layer 1 at step 1 even for silent inputs
        net[2].bias.fill_(0.4)
    return net


def _saved(folder, recurrent: bool):
    path = folder / "net.pt"
    snc.save(_net(recurrent), path, (6,))
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["feedforward", "recurrent"])
def model(request, tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("t1"), request.param)


def _x(steps: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((4, steps, 6)) < 0.5).astype(np.float64)


def test_t1_is_the_first_step_of_a_longer_run(model):
    hw_graph, _ = api.lower(api.load(model), "loihi2")
    assert hw_graph.meta.get("bias_clock") and any(
        getattr(op, "reset_interval", 0) for op in hw_graph.nodes.values())
    long = run_emulator(hw_graph, _x(6)).outputs["output"]
    one = run_emulator(hw_graph, _x(6)[:, :1]).outputs["output"]
    assert one.shape == (4, 1, 3) and one.sum() > 0
    np.testing.assert_array_equal(one, long[:, :1])


def _verify_t1(model, target: str) -> None:
    report = api.verify(model, _x(1), target=target, max_count_error=0.0,
                        min_train_agreement=1.0)
    assert report.passed, report.to_dict()
    assert report.steps == 1 and report.source_agreement == 1.0
    if target != "emu":
        assert report.backend_mismatches == 0


@pytest.mark.parametrize("target", ["emu", "fpga"])
def test_verify_t1(model, target):
    """verify runs the torch model, the reference, the emulator and the target's own artefact
    (the Icarus RTL simulation for fpga) on a one-step input; all agree (the target exactly)."""
    _verify_t1(model, target)


def test_verify_t1_lava(tmp_path):
    """The same through the generated Lava program (fixed_pt), on the recurrent net (one Lava
    run, ~5 s)."""
    _verify_t1(_saved(tmp_path, recurrent=True), "loihi2")


def test_compiled_build_runs_t1(model, tmp_path):
    api.compile_model(model, target="emu", out_dir=tmp_path / "b")
    out, _ = api.run_build(tmp_path / "b", _x(1))
    hw_graph, _ = api.lower(api.load(model), "emu")
    np.testing.assert_array_equal(out, run_emulator(hw_graph, _x(1)).outputs["output"])
    assert out.shape == (4, 1, 3)
