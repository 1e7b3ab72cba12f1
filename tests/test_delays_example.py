"""The shipped examples/delays_adaptation models: learned delays win a task a delay-free net of the
same size cannot solve, survive compilation (emulator close to float), and Lava equals the
emulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.backends import loihi2
from snncompile.frontends.torch_file import read_module
from snncompile.sim.emulator import run_emulator
from snncompile.verify import predictions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "delays_adaptation"
SAMPLES = 200  # of the 500 test samples: the full table is evaluate.py's job


def _data():
    """examples/delays_adaptation/data.py under its own name (examples/digits has a data.py too)."""
    spec = importlib.util.spec_from_file_location("delays_adaptation_data", EXAMPLE / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def test_set():
    data = _data()
    _, _, x, y = data.load_split()
    return x[:SAMPLES], y[:SAMPLES], data.CLASSES


def _run(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, object]:
    path = EXAMPLE / name
    module, _, _ = read_module(path)
    with torch.no_grad():
        float_out = snn.run(module.eval(), torch.as_tensor(x)).numpy()
    hw_graph, _ = api.lower(api.load(path), "loihi2")
    hw_out = run_emulator(hw_graph, x.astype(np.int8)).outputs[hw_graph.outputs[0]]
    return float_out, hw_out, hw_graph


def _acc(spikes: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predictions(spikes) == y) * 100)


def test_delays_beat_the_same_size_net_without_them_on_the_emulator(test_set):
    x, y, classes = test_set
    f_delay, e_delay, g_delay = _run("delays.pt", x)
    f_plain, e_plain, g_plain = _run("no_delays.pt", x)
    assert any(type(op).__name__ == "DelayDense" for op in g_delay.nodes.values())
    assert not any(type(op).__name__ == "DelayDense" for op in g_plain.nodes.values())
    assert any(type(op).__name__ == "ATRLIF" for op in g_delay.nodes.values())
    delay_emu, plain_emu = _acc(e_delay, y), _acc(e_plain, y)
    assert delay_emu >= 80.0, delay_emu
    assert delay_emu >= plain_emu + 25.0, (delay_emu, plain_emu)
    assert plain_emu <= 100 / classes + 25.0, plain_emu  # the baseline stays near chance
    assert abs(delay_emu - _acc(f_delay, y)) <= 4.0, (delay_emu, _acc(f_delay, y))
    assert abs(plain_emu - _acc(f_plain, y)) <= 6.0, (plain_emu, _acc(f_plain, y))


def test_lava_equals_the_emulator_on_a_few_samples(test_set, tmp_path):
    x = test_set[0][:6].astype(np.int8)
    hw_graph, _ = api.lower(api.load(EXAMPLE / "delays.pt"), "loihi2")
    loihi2.write(hw_graph, tmp_path)
    spikes, _ = loihi2.run(tmp_path, {"files": {}}, x)
    want = run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]
    assert want.sum() > 6
    np.testing.assert_array_equal(spikes, want)
