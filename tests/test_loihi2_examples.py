"""Issue 3's end-to-end claims on real models, through the CLI a user runs: the digits SNN and
Intel's trained PilotNet compiled to loihi2 run under Lava 0.10.0 fixed_pt (the generated
program, in its own process) with output spikes identical to the emulator's."""

from __future__ import annotations

import json

import numpy as np
from test_cli import DIGITS, snncompile

from snncompile import api
from snncompile.sim.emulator import run_emulator


def test_digits_verify_on_loihi2_is_exact(digits_inputs):
    """Float reference vs emulator per layer, and Lava's run of the generated program vs the
    emulator on all 360 test samples: not one output entry may differ."""
    x_path, y_path = digits_inputs
    result = snncompile("verify", DIGITS, "--target", "loihi2", "--input", x_path,
                        "--labels", y_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["backend_mismatches"] == 0
    assert report["passed"] and report["samples"] == 360
    assert report["float_accuracy"] > 90 and report["hw_accuracy"] > 90
    names = [c["name"] for c in report["checks"]]
    assert "emulator vs loihi2: differing output entries" in names


def test_digits_build_folder_runs_on_lava(tmp_path, digits_inputs):
    x_path, _ = digits_inputs
    build = tmp_path / "build"
    result = snncompile(DIGITS, "--target", "loihi2", "-o", build)
    assert result.returncode == 0, result.stderr
    for name in ("model.net", "run_lava.py", "lava_compat.py", "README.md", "manifest.json"):
        assert (build / name).is_file(), name
    x = np.load(x_path)[:40]
    np.save(tmp_path / "x40.npy", x)
    result = snncompile("run", build, "--input", tmp_path / "x40.npy", "-o", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    emu = run_emulator(api.lower(api.load(DIGITS), "loihi2")[0], x)
    (out,) = emu.outputs.values()
    lava = np.load(tmp_path / "y.npy")
    assert lava.shape == out.shape and lava.any()
    np.testing.assert_array_equal(lava, out)


def test_pilotnet_on_loihi2_and_emu_is_identical(third_party, tmp_path):
    """Intel's PilotNet (netx) compiled to both targets, run on generated graded frames of
    realistic magnitude (the input neuron's threshold is 25 << 6, so values up to 60 make it
    fire). Its last layer is a readout that never spikes (vThMant 131071), so equal outputs
    alone would prove little: u, v and spikes of all ten layers are compared at every step."""
    from snncompile.backends.loihi2 import run_program
    from snncompile.sim.emulator import simulate

    net = third_party / "lava-dl" / "pilotnet_lif" / "network.net"
    rng = np.random.default_rng(3)
    x = rng.integers(-10, 60, size=(1, 8, 3, 66, 200))
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for target in ("emu", "loihi2"):
        build = tmp_path / target
        result = snncompile(net, "--target", target, "-o", build)
        assert result.returncode == 0, result.stderr
        y = tmp_path / f"{target}_y.npy"  # never inside the build: its files are hashed
        result = snncompile("run", build, "--input", tmp_path / "x.npy", "-o", y)
        assert result.returncode == 0, result.stderr
        outs[target] = np.load(y)
    np.testing.assert_array_equal(outs["loihi2"], outs["emu"])

    graph = api.lower(api.load(net), "loihi2")[0]
    steps = x.shape[1] + 10
    _, probes = run_program(tmp_path / "loihi2", x, steps=steps, probes=True)
    emu = simulate(graph, x, steps, record=True)
    layers = graph.of_kind("neuron")
    assert len(layers) == 10
    for name in layers:
        for key, trace in (("s", emu.spikes), ("u", emu.u), ("v", emu.v)):
            np.testing.assert_array_equal(probes[f"{key}:{name}"], trace[name],
                                          err_msg=f"{key} of {name}")
    assert sum(int(emu.spikes[n].sum()) > 0 for n in layers) >= 8  # activity reaches deep layers
