"""Issue 6: energy and latency estimates. PilotNet on loihi2 against Intel's measurement, the
NeuroBench package's own metrics on the digits model, and the estimate command a user runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snncompile import api
from snncompile.estimate import activity, energy
from snncompile.estimate.frames import road_frames
from snncompile.ir import hw_ops
from snncompile.target import STATUSES

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def snncompile(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snncompile.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)

# lava-dl pilotnet_snn/benchmark.ipynb (v0.6.0, commit b9e3691): one chip, reset_interval = 16
# steps per frame, the frame held in the input layer's bias; fps = steps/s / 16.
INTEL = {"dynamic_uj": 1093.544, "total_uj": 1661.103, "fps": 408.91}


@pytest.fixture(scope="module")
def digits_x() -> tuple[np.ndarray, np.ndarray]:
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    _, _, x, y = load_split()
    return x, y


@pytest.fixture(scope="module")
def pilotnet_estimate(shared_data):
    import h5py

    net = shared_data / "lava-dl" / "pilotnet_lif" / "network.net"
    with h5py.File(net, "r") as f:  # the file's own input transform (lava-dl PilotNetDataset)
        w, b = float(f["layer/0/weight"][()]), float(f["layer/0/bias"][()])
    frames = road_frames(4, weight=w, bias=b, seed=1)
    x = np.repeat(frames[:, None], 16, axis=1)  # each frame held for one reset interval
    return api.estimate_energy(net, "loihi2", x, pipelined=True)


def test_pilotnet_on_loihi2_is_near_intels_measurement(pilotnet_estimate):
    """Untuned Loihi 1 per-op constants on the emulator's counts: within 0.5-2x of Intel's
    measured dynamic and total energy per inference (inference = 16 steps on one frame)."""
    est = pilotnet_estimate
    e, lt = est["energy_uj"], est["latency"]
    ratios = {"dynamic": e["dynamic"] / INTEL["dynamic_uj"], "total": e["total"] / INTEL["total_uj"],
              "fps": lt["inferences_per_s"] / INTEL["fps"]}
    print(json.dumps({"estimate": {**e, "fps": lt["inferences_per_s"]}, "ratios": ratios}))
    assert est["steps_per_inference"] == 16 and est["activity"] == "measured"
    assert 0.5 <= ratios["dynamic"] <= 2.0, ratios
    assert 0.5 <= ratios["total"] <= 2.0, ratios
    assert 0.25 <= ratios["fps"] <= 4.0, ratios  # Loihi 1 op times: slower than Loihi 2
    sparsity = est["neurobench"]["activation_sparsity"]
    assert 0.3 < sparsity < 0.99  # realistic activity: neither silent nor saturated
    assert sum(est["breakdown_uj"].values()) == pytest.approx(e["total"])
    cores = est["cores"]
    assert len(cores) > 50
    assert sum(c["synops"] for c in cores) == pytest.approx(est["counts"]["synops"])
    assert sum(r["synops"] for r in est["layers"]) == pytest.approx(est["counts"]["synops"])


def test_every_energy_constant_has_source_and_status():
    for target in ("loihi2", "loihi1", "fpga"):
        _, rows = energy.constants(target)
        assert rows and all(r["status"] in STATUSES and r["source"].strip() for r in rows)
    b, rows, _ = energy.baseline_constants()
    assert b["mac_pj"] > 0 and all(r["status"] in STATUSES for r in rows)


class _Runner(torch.nn.Module):
    """The trained Sequential run over time, as NeuroBench's TorchModel calls it."""

    def __init__(self, seq):
        super().__init__()
        self.seq = seq

    def forward(self, x):
        import snncompile.nn as snn

        return snn.run(self.seq, x)


def test_neurobench_cross_check_on_digits(digits_x):
    """NeuroBench 2.3.0's SynapticOperations and ActivationSparsity on the trained torch model vs
    snncompile's counters: exact on the same (float) spikes, and within 5 % on the emulator's (quantized weights, ~1.5 % of spikes differ)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    import snncompile.nn as snn
    from snncompile.frontends.torch_file import read_module

    x, y = digits_x
    x = x[:120]
    seq, _, _ = read_module(DIGITS)
    model = TorchModel(_Runner(seq.eval()))
    model.add_activation_module(snn.LIF)
    data = torch.utils.data.TensorDataset(torch.as_tensor(x, dtype=torch.float32),
                                          torch.as_tensor(y[:120]))
    loader = torch.utils.data.DataLoader(data, batch_size=40)
    nb = Benchmark(model, loader, [], [], [[], [SynapticOperations, ActivationSparsity]]).run(
        quiet=True)
    ops = nb["SynapticOperations"]
    hw_graph, _ = api.lower(api.load(DIGITS), "emu")
    # snncompile's counting on the float model's own spikes (hooks on its LIF layers)
    recorded: dict[str, list] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: recorded.setdefault(k, []).append(o))
             for k, m in seq.named_children() if isinstance(m, snn.LIF)]
    with torch.no_grad():
        snn.run(seq, torch.as_tensor(x, dtype=torch.float32))
    for h in hooks:
        h.remove()
    spikes = {k: torch.stack(v, 1).numpy() for k, v in recorded.items()}
    acs, dense, acs_hw = 0.0, 0.0, 0.0
    inputs = {"0": x, "2": spikes["1"]}  # Linear module -> what it reads
    for idx, s in inputs.items():  # float weights' non-zeros, as NeuroBench binarizes them
        mask = hw_ops.Dense(weights=(seq[int(idx)].weight.detach().numpy() != 0).astype(int))
        flat = s.reshape(-1, s.shape[-1])
        acs += activity.fan(mask, flat, (s.shape[-1],)).sum() / len(x)
        dense += activity.fan(mask, np.ones_like(flat), (s.shape[-1],), dense=True).sum() / len(x)
    for syn, s in zip(hw_graph.of_kind("synapse"), inputs.values()):  # the quantized weights
        flat = s.reshape(-1, s.shape[-1])
        acs_hw += activity.fan(hw_graph.nodes[syn], flat, (s.shape[-1],)).sum() / len(x)
    n_out = sum(v.size for v in spikes.values())
    sparsity = 1 - sum(float(v.sum()) for v in spikes.values()) / n_out
    print(json.dumps({"neurobench": {**ops, "sparsity": nb["ActivationSparsity"]},
                      "snncompile_float": {"acs": acs, "dense": dense, "sparsity": sparsity},
                      "quantized_weights_acs": acs_hw}))
    assert ops["Effective_MACs"] == 0 and ops["Effective_ACs"] > 1000
    assert acs == pytest.approx(ops["Effective_ACs"], rel=1e-9)
    assert dense == pytest.approx(ops["Dense"], rel=1e-9)
    assert sparsity == pytest.approx(nb["ActivationSparsity"], rel=1e-9)
    assert acs_hw <= acs  # quantization rounds small weights to zero: fewer synaptic ops
    # the hardware estimate: emulator spikes in nn time (quantization changes ~1.5 % of spikes)
    emu = api.estimate_energy(DIGITS, "loihi2", x)["neurobench"]
    emu_nn = _nn_time_metrics(hw_graph, x)
    print(json.dumps({"estimate": emu, "emulator_nn_time": emu_nn}))
    assert emu_nn["acs"] == pytest.approx(ops["Effective_ACs"], rel=0.05)
    assert emu_nn["sparsity"] == pytest.approx(nb["ActivationSparsity"], rel=0.03)
    assert emu["dense"] >= ops["Dense"]  # the estimate also counts the L drain steps


def _nn_time_metrics(hw_graph, x):
    from snncompile.sim.emulator import run_emulator

    emu = run_emulator(hw_graph, x, record=True)
    acs = 0.0
    for syn in hw_graph.of_kind("synapse"):
        src = hw_graph.predecessors(syn)[0]
        s = x if src in hw_graph.inputs else emu.spikes[src]
        shape = tuple(hw_graph.shapes[src])
        acs += activity.fan(hw_graph.nodes[syn], s.reshape(-1, *shape), shape).sum() / len(x)
    n = sum(v.size for v in emu.spikes.values())
    return {"acs": acs, "sparsity": 1 - sum(float(v.sum()) for v in emu.spikes.values()) / n}


def test_assumed_rates_scale_the_estimate():
    low = api.estimate_energy(DIGITS, "loihi1", None, rate=0.05)
    high = api.estimate_energy(DIGITS, "loihi1", None, rate=0.2)
    assert low["activity"] == "assumed"
    assert high["counts"]["spikes"] == pytest.approx(4 * low["counts"]["spikes"])
    assert high["counts"]["synops"] > low["counts"]["synops"]
    assert high["energy_uj"]["dynamic"] > low["energy_uj"]["dynamic"]
    assert high["latency"]["us_per_inference"] > low["latency"]["us_per_inference"]


def test_estimate_cli_json_and_errors(tmp_path, digits_x):
    x, _ = digits_x
    np.save(tmp_path / "x.npy", x[:30])
    r = snncompile("estimate", DIGITS, "--target", "loihi2", "--input", tmp_path / "x.npy",
                   "--json")
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)["energy"]
    assert est["activity"] == "measured" and est["samples"] == 30
    assert est["energy_uj"]["total"] > est["energy_uj"]["dynamic"] > 0
    assert est["steps_per_inference"] == 16 + 2  # T + L: the pipeline drains
    r = snncompile("estimate", DIGITS, "--target", "fpga", "--no-synth")
    assert r.returncode == 0, r.stderr
    assert "energy per inference" in r.stdout and "analytic" in r.stdout
    r = snncompile("estimate", DIGITS, "--target", "emu")
    assert r.returncode == 2 and "no [energy] section" in r.stderr
