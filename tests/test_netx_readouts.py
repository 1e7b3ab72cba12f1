"""netx layers lava-dl netx 0.6.0 does not build itself (`average`, `pool`) and the dense readout
without a neuron group (lava-dl's `mnist.net`), read into hw graphs (snncompile/frontends/
netx_layers.py) and run by the generated Lava program (issue 15).

Independent sides: lava-dl's own netx in Lava for mnist.net (it builds the neuron-less readout
with its default neuron), lava-dl's expected N-TIDIGITS spikes (`gts/ntidigits/output.npy`, the
layer before `average`), torch's conv2d for the pool synapse, and for every network the
generated Lava program's u, v and spikes against the emulator in every layer.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from netx_shim import import_netx
from test_netx import lava_order, lifs, run_netx

from snncompile import api
from snncompile.backends.loihi2 import run_program
from snncompile.backends.netx_writer import write_layers
from snncompile.errors import ModelLoadError, UnsupportedOp
from snncompile.frontends.netx import load
from snncompile.sim.emulator import simulate


def _lava_equals_emulator(tmp_path, path, x: np.ndarray, steps: int) -> dict:
    """Compile `path` for loihi2, run the generated program with probes on x (1, steps, ...);
    every LIF's u, v, spikes equal the emulator's. Returns the emulator's record."""
    build = api.compile_model(path, "loihi2", tmp_path / "build")
    _, probes = run_program(tmp_path / "build", x, steps=steps, probes=True)
    ours = simulate(build.hw_graph, x, steps, record=True)
    for name in lifs(build.hw_graph):
        for key, mine in (("s", ours.spikes), ("u", ours.u), ("v", ours.v)):
            np.testing.assert_array_equal(probes[f"{key}:{name}"], mine[name], f"{key}:{name}")
    return ours


def test_mnist_neuronless_readout_equals_lava_dl(lava_dl_wheel, tmp_path):
    """lava-dl's netx builds mnist.net's last dense (no neuron group) with its default neuron;
    ours is the same LIF: u and v of every layer at the end, and the readout's v every step."""
    path = tmp_path / "mnist.net"
    shutil.copyfile(lava_dl_wheel / "mnist.net", path)
    with h5py.File(path, "a") as f:  # netx's int(weight) fails on these (1,) arrays (numpy 2)
        for key in ("weight", "bias"):
            value = float(f[f"layer/0/{key}"][0])
            del f[f"layer/0/{key}"]
            f.create_dataset(f"layer/0/{key}", data=np.float32(value))
    g = load(path)
    assert g == load(lava_dl_wheel / "mnist.net")
    readout = g.nodes["layer3"]
    assert (readout.du, readout.dv, readout.vth) == (-1, 4096, 1 << 17)
    steps = 8
    x = np.random.default_rng(0).integers(0, 2, size=(steps, 784)) * 200
    out, state, trace = run_netx(import_netx(), path, g, x.astype(np.int32), every_step=(3,))
    ours = simulate(g, x[None], steps, record=True)
    for k, name in enumerate(lifs(g)):
        np.testing.assert_array_equal(state[k][0], lava_order(ours.u[name][0, -1]), name)
        np.testing.assert_array_equal(state[k][1], lava_order(ours.v[name][0, -1]), name)
    for t in range(steps):
        np.testing.assert_array_equal(trace[t][0], ours.v["layer3"][0, t])
    np.testing.assert_array_equal(out, ours.spikes["output"][0])
    assert ours.spikes["layer2"].sum() > 0 and np.abs(ours.v["layer3"][0, -1]).max() > 1000
    assert not out.any()  # the readout never spikes: it is read through v
    _lava_equals_emulator(tmp_path, path, x[None], steps)
    with h5py.File(tmp_path / "export.net", "w") as f:  # written back: the same graph
        assert write_layers(g, f) == []
    back = load(tmp_path / "export.net")
    assert back.nodes == g.nodes and back.edges == g.edges


def test_ntidigits_average_readout(lava_dl_wheel, tmp_path):
    """N-TIDIGITS (delays, then `average` over 22-neuron groups): the emulator gives lava-dl's
    expected spikes of the layer before the average over 600 steps (one step of index shift:
    Lava's sink records step t at index t), the average readout's v is 64 x the group counts,
    and the generated Lava program equals the emulator in every layer."""
    folder = lava_dl_wheel / "gts" / "ntidigits"
    g = load(folder / "ntidigits.net")
    assert g.meta["netx_average"] == {"layer": "layer5", "group": 22, "value": "v / (64 * group)"}
    steps = 600
    x = np.load(folder / "input.npy")[:, :steps].T.reshape(1, steps, 1, 1, 64)
    want = np.load(folder / "output.npy")[:, :steps].T
    ours = simulate(g, x, steps, record=True)
    spikes = ours.spikes["layer4"][0]
    np.testing.assert_array_equal(spikes[:-1], want[1:])
    assert want.sum() > 1000
    counts = spikes.reshape(steps, 11, 22).sum(axis=2)  # slayer's Average, times the group size
    np.testing.assert_array_equal(ours.v["layer5"][0, 1:], 64 * counts[:-1])
    assert not ours.spikes["layer5"].any()
    lava = _lava_equals_emulator(tmp_path, folder / "ntidigits.net", x[:, :70], 70)
    assert lava.spikes["layer4"].sum() > 100
    # the netx export writes the average as a dense layer with its readout neuron, which
    # lava-dl's own netx builds: its u and v after 70 steps equal ours in every layer
    export = tmp_path / "export.net"
    with h5py.File(export, "w") as f:
        assert write_layers(g, f) == []
    out, state, _ = run_netx(import_netx(), export, g, x[0, :70].astype(np.int32))
    assert not out.any() and len(state) == len(lifs(g)) == 4
    for k, name in enumerate(lifs(g)):
        np.testing.assert_array_equal(state[k][0], lava.u[name][0, -1], name)
        np.testing.assert_array_equal(state[k][1], lava.v[name][0, -1], name)
    assert lava.v["layer5"][0, -1].any()


def _pool_file(path, weight) -> None:
    """input (2, 6, 6) -> pool 2x2 stride 2 (slayer's Pool block) -> flatten -> dense."""
    with h5py.File(path, "w") as f:
        def layer(i, kind, **data):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            for key, value in data.items():
                g.create_dataset(key, data=value)

        neuron = {"neuron/type": "CUBA", "neuron/iDecay": 4096, "neuron/vDecay": 0,
                  "neuron/vThMant": 3}
        layer(0, "input", shape=np.array([2, 6, 6]))
        layer(1, "pool", shape=np.array([2, 3, 3]), kernelSize=np.array([2, 2]),
              stride=np.array([2, 2]), padding=np.array([0, 0]), dilation=np.array([1, 1]),
              weight=weight, **neuron)
        layer(2, "flatten", shape=np.array([18, 1, 1]))
        w = np.random.default_rng(3).integers(-20, 40, size=(4, 18)).astype(np.float32)
        layer(3, "dense", shape=np.array([4]), weight=w, **neuron)


def test_pool_layer_is_a_depthwise_sum(tmp_path):
    """A pool layer's synapse is torch's depthwise conv2d of the spikes with its weight (u of a
    du = 4095 neuron is the step's input << 6); the Lava program equals the emulator."""
    path = tmp_path / "pool.net"
    kernel = np.array([[[[1.0, 2.0], [3.0, 1.0]]]])  # slayer's are uniform; this shows the order
    _pool_file(path, kernel.astype(np.float32))
    g = load(path)
    steps = 10
    x = (np.random.default_rng(1).random((1, steps, 2, 6, 6)) < 0.5).astype(np.int64)
    ours = simulate(g, x, steps, record=True)
    sums = torch.nn.functional.conv2d(torch.as_tensor(x[0], dtype=torch.float64),
                                      torch.as_tensor(kernel).expand(2, 1, 2, 2),
                                      stride=2, groups=2).numpy()
    # one step of synaptic delay: u at hw step t + 1 holds the input of step t
    np.testing.assert_array_equal(ours.u["layer1"][0, 1:], sums[:-1].astype(np.int64) << 6)
    assert ours.spikes["layer1"].sum() > 5 and ours.spikes["layer3"].sum() > 0
    _lava_equals_emulator(tmp_path, path, x, steps)


@pytest.mark.parametrize("edit, words", [
    (lambda f: f["layer/4/shape"].__setitem__(0, 3),
     "layer 4: average layer of 3 outputs cannot split 4 inputs"),
    (lambda f: f["layer/1/type"].__setitem__(0, b"convT"),
     "layer 1: layer type 'convT' is not supported (a transposed conv"),
])
def test_reader_refusals_are_one_sentence(tmp_path, edit, words):
    path = tmp_path / "bad.net"
    _pool_file(path, np.full((1, 1, 2, 2), 2.0, np.float32))
    with h5py.File(path, "a") as f:
        g = f.create_group("layer/4")
        g.create_dataset("type", (1,), "S10", [b"average"])
        g.create_dataset("shape", data=np.array([2, 1, 1]))
        edit(f)
    with pytest.raises((ModelLoadError, UnsupportedOp)) as info:
        load(path)
    assert words in str(info.value) and "\n" not in str(info.value)
