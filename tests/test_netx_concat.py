"""netx `concat` layers (skip connections), read into hw graphs (snncompile/frontends/
netx_concat.py) and written back by the netx export (issue 15).

lava-dl netx 0.6.0 refuses `concat` (NotImplementedError) and Lava's ConcatPort has no
transform, so the independent side is a plain-torch forward written here from the file's
arrays and lava-dl's documented semantics: each layer's synapse delivers one step late (slayer's
`delay_shift`), a concat adds no step and delays no skip, the neuron is Lava's fixed-point CUBA
LIF (lava/proc/lif/models.py). It never sees our reader (no weight re-encoding, no split, no
timing meta). Then the generated Lava program equals the emulator in u, v and spikes of every
layer, and the fpga RTL in Icarus equals it in u, v, spike stamps and cycles.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from test_fpga_cosim import assert_same, cosim
from test_netx_readouts import _lava_equals_emulator

from snncompile import api
from snncompile.backends.netx_writer import write_layers
from snncompile.errors import ModelLoadError, UnsupportedOp
from snncompile.frontends.netx import load
from snncompile.sim.emulator import run_emulator, simulate
from snncompile.sim.timing import latency, synaptic_depths


def _layer(f: h5py.File, i: int, kind: str, **data) -> None:
    """One /layer/i group as slayer's export_hdf5 writes it (type: an S10 dataset)."""
    g = f.create_group(f"layer/{i}")
    g.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    for key, value in data.items():
        g.create_dataset(key, data=value)


def _neuron(i_decay: int, v_decay: int, vth: int) -> dict:
    return {"neuron/type": "CUBA", "neuron/iDecay": i_decay, "neuron/vDecay": v_decay,
            "neuron/vThMant": vth}


def dense_skip_file(path, seed: int = 0) -> None:
    """input (6) -> dense 10 -> dense 8 -> concat [0, 1] -> dense 5: the last layer reads
    [layer 2, the input, layer 1] (previous layer first, then the listed ids)."""
    rng = np.random.default_rng(seed)

    def w(n_out, n_in):
        return rng.integers(-30, 90, (n_out, n_in)).astype(np.float32)

    with h5py.File(path, "w") as f:
        _layer(f, 0, "input", shape=np.array([6]))
        _layer(f, 1, "dense", shape=np.array([10]), weight=w(10, 6), **_neuron(1024, 512, 60))
        _layer(f, 2, "dense", shape=np.array([8]), weight=w(8, 10), bias=rng.integers(-2, 3, 8),
               **_neuron(0, 256, 60))
        _layer(f, 3, "concat", shape=np.array([24]), layers=np.array([0, 1]))
        _layer(f, 4, "dense", shape=np.array([5]), weight=w(5, 24), **_neuron(2048, 512, 80))


def conv_skip_file(path, seed: int = 1) -> None:
    """input (2, 5, 5) -> conv 3 -> conv 3 -> concat [1] (channels of layer 2, then layer 1) ->
    conv 2 -> flatten -> dense 4."""
    rng = np.random.default_rng(seed)
    conv = {"stride": np.array([1, 1]), "padding": np.array([1, 1]), "dilation": np.array([1, 1]),
            "groups": 1}

    def k(c_out, c_in):
        return rng.integers(-20, 60, (c_out, c_in, 3, 3, 1)).astype(np.float32)

    with h5py.File(path, "w") as f:
        _layer(f, 0, "input", shape=np.array([2, 5, 5]))
        _layer(f, 1, "conv", shape=np.array([3, 5, 5]), weight=k(3, 2), **conv,
               **_neuron(1024, 256, 70))
        _layer(f, 2, "conv", shape=np.array([3, 5, 5]), weight=k(3, 3), **conv,
               **_neuron(0, 512, 90))
        _layer(f, 3, "concat", shape=np.array([6, 5, 5]), layers=np.array([1]))
        _layer(f, 4, "conv", shape=np.array([2, 5, 5]), weight=k(2, 6), **conv,
               **_neuron(512, 1024, 120))
        _layer(f, 5, "flatten", shape=np.array([50]))
        _layer(f, 6, "dense", shape=np.array([4]),
               weight=rng.integers(-10, 40, (4, 50)).astype(np.float32), **_neuron(0, 0, 40))


def _trunc_decay(x: torch.Tensor, decay: int) -> torch.Tensor:
    """Lava's decay: x * (4096 - decay) shifted right by 12, rounded toward zero."""
    y = x * (4096 - decay)
    return torch.sign(y) * (torch.abs(y) >> 12)


def torch_reference(path, x: np.ndarray) -> dict[int, torch.Tensor]:
    """Spikes (T, *shape) of every layer id of the netx file at `path` for input spikes x
    (T, *input shape), in hw time: a synapse reads the previous step's spikes."""
    with h5py.File(path, "r") as f:
        layers = [f[f"layer/{i}"] for i in range(len(f["layer"]))]
        out: dict[int, torch.Tensor] = {0: torch.as_tensor(x, dtype=torch.int64)}
        steps = len(x)
        feed, flat = [0], False
        for i, layer in enumerate(layers[1:], start=1):
            kind = layer["type"][0].decode()
            if kind == "concat":
                ids = [int(j) for j in layer["layers"][()]]
                feed = ids if i - 1 in ids else [feed[-1], *ids]
                continue
            if kind == "flatten":
                flat = True
                continue
            spikes = torch.cat([out[j] for j in feed], dim=1)  # along neurons / channels
            late = torch.zeros_like(spikes)
            late[1:] = spikes[:-1]  # one step of synaptic delay, no more for a skip
            weight = torch.as_tensor(layer["weight"][()].astype(np.int64))  # file integers
            if kind == "conv":
                a_in = torch.nn.functional.conv2d(late, weight[..., 0], stride=1, padding=1)
            else:
                a_in = (late.reshape(steps, -1) if flat else late) @ weight.T
            cfg = layer["neuron"]
            bias = (torch.as_tensor(layer["bias"][()].astype(np.int64)) if "bias" in layer
                    else torch.zeros(a_in.shape[1:], dtype=torch.int64))
            u = torch.zeros(a_in.shape[1:], dtype=torch.int64)
            v, s = u.clone(), []
            for t in range(steps):
                u = _trunc_decay(u, int(cfg["iDecay"][()])) + (a_in[t] << 6)
                u = (u + 2**23) % 2**24 - 2**23  # 24-bit wrap
                v = _trunc_decay(v, int(cfg["vDecay"][()])) + u + (bias << 6)
                v = v.clamp(-(2**23) + 1, 2**23 - 1)
                fired = v > int(cfg["vThMant"][()]) << 6
                v = torch.where(fired, 0, v)
                s.append(fired.long())
            out[i], feed, flat = torch.stack(s), [i], False
    return out


@pytest.mark.parametrize("make, shape", [(dense_skip_file, (6,)), (conv_skip_file, (2, 5, 5))])
def test_concat_equals_torch_reference(tmp_path, make, shape):
    """Every layer's spikes at every hw step equal the torch forward; the nn-time output (read
    at the main path's depth) equals the reference shifted by that depth."""
    path = tmp_path / "skip.net"
    make(path)
    g = load(path)
    steps = 14
    x = (np.random.default_rng(2).random((1, steps, *shape)) < 0.5).astype(np.int64)
    ref = torch_reference(path, x[0])
    ours = simulate(g, x, steps, record=True)
    for i, spikes in ref.items():
        if i:
            np.testing.assert_array_equal(ours.spikes[f"layer{i}"][0], spikes.numpy(), f"{i}")
    last = max(ref)
    assert all(ref[i].sum() > 5 for i in ref) and ref[last].sum() > 10
    depth = synaptic_depths(g)
    assert depth[f"layer{last}"] == latency(g) == len([i for i in ref if i])
    padded = np.concatenate([x[0], np.zeros((latency(g), *shape), np.int64)])
    want = torch_reference(path, padded)[last].numpy()[latency(g):]
    np.testing.assert_array_equal(run_emulator(g, x).outputs["output"][0], want)


def test_concat_graph_and_timing(tmp_path):
    """The dense after a concat is one netx encoding cut into a synapse per input; the skips
    carry their lead (2 steps from the input, 1 from layer 1) as timing meta only."""
    path = tmp_path / "skip.net"
    dense_skip_file(path)
    g = load(path)
    assert g.predecessors("layer4") == ["layer4_syn", "layer4_syn1", "layer4_syn2"]
    assert [g.predecessors(s) for s in g.predecessors("layer4")] == [["layer2"], ["input"],
                                                                     ["layer1"]]
    parts = [g.nodes[s] for s in g.predecessors("layer4")]
    assert [p.weights.shape[1] for p in parts] == [8, 6, 10]
    assert len({(p.weight_exp, p.num_weight_bits, p.sign_mode) for p in parts}) == 1
    assert parts[0].sign_mode == "mixed"
    assert g.meta["pipeline_delay"] == {"layer4_syn1": 2, "layer4_syn2": 1}


def test_concat_lava_program_equals_emulator(tmp_path):
    """The generated Lava program (Lava's Dense and LIF processes, the parts of the concat
    summed at one LIF's a_in) equals the emulator in u, v and spikes of every layer."""
    path = tmp_path / "skip.net"
    dense_skip_file(path)
    x = (np.random.default_rng(3).random((1, 12, 6)) < 0.5).astype(np.int64)
    ours = _lava_equals_emulator(tmp_path, path, x, 12)
    assert ours.spikes["layer4"].sum() > 10


def test_concat_fpga_rtl_equals_emulator(tmp_path):
    """Icarus runs the fpga RTL of the concat network: u and v of every neuron after every tick,
    every spike's cycle stamp and the cycles equal the emulator; run() gives its outputs."""
    path = tmp_path / "skip.net"
    dense_skip_file(path)
    g = load(path)
    x = (np.random.default_rng(4).random((2, 8, 6)) < 0.5).astype(np.int8)
    _, want, got = cosim(g, x, 11, tmp_path)
    assert_same(want, got)
    assert len(want.stamps) > 20
    api.compile_model(path, "fpga", tmp_path / "fpga")  # the front door takes the file too
    assert any((tmp_path / "fpga" / "rtl").iterdir())


def recurrent_skip_file(path) -> None:
    """The dense skip network with a dense_rec last layer (W_rec encoded jointly with the
    concat's matrix, as netx does)."""
    dense_skip_file(path)
    with h5py.File(path, "a") as f:
        f["layer/4/type"][0] = b"dense_rec"
        f.create_dataset("layer/4/weight_rec", data=np.arange(-12, 13).reshape(5, 5) * 3.0)


def delayed_skip_file(path) -> None:
    """The dense skip network with per-synapse delays 0..2 on the layer after the concat."""
    dense_skip_file(path)
    with h5py.File(path, "a") as f:
        f.create_dataset("layer/4/delay", data=np.arange(120).reshape(5, 24) % 3 * 1.0)


@pytest.mark.parametrize("make", [dense_skip_file, conv_skip_file, recurrent_skip_file,
                                  delayed_skip_file])
def test_concat_export_round_trip(tmp_path, make):
    """read -> netx export -> read: the same nodes, edges and timing, and the same spikes; the
    export writes the concat layer where the file had it."""
    path = tmp_path / "skip.net"
    make(path)
    g = load(path)
    with h5py.File(tmp_path / "export.net", "w") as f:
        assert write_layers(g, f) == []
        with h5py.File(path, "r") as original:
            for i in original["layer"]:
                assert f[f"layer/{i}/type"][0] == original[f"layer/{i}/type"][0]
                if "layers" in original[f"layer/{i}"]:
                    np.testing.assert_array_equal(f[f"layer/{i}/layers"][()],
                                                  original[f"layer/{i}/layers"][()])
    back = load(tmp_path / "export.net")
    assert back.nodes == g.nodes and back.edges == g.edges
    assert back.meta["pipeline_delay"] == g.meta["pipeline_delay"]
    x = (np.random.default_rng(5).random((1, 10, *g.shapes["input"])) < 0.5).astype(np.int64)
    np.testing.assert_array_equal(simulate(back, x, 10).spikes["output"],
                                  simulate(g, x, 10).spikes["output"])


def test_concat_listing_the_previous_layer_is_the_whole_order(tmp_path):
    """`layers` naming the previous layer itself is the full order ([1, 2] here: layer 1's
    neurons first), read as the same network with the weight columns in that order."""
    path = tmp_path / "skip.net"
    dense_skip_file(path)
    with h5py.File(path, "a") as f:
        del f["layer/3/layers"]
        f.create_dataset("layer/3/layers", data=np.array([1, 2, 0]))
    g = load(path)
    assert [g.predecessors(s)[0] for s in g.predecessors("layer4")] == ["layer1", "layer2",
                                                                        "input"]
    x = (np.random.default_rng(6).random((10, 6)) < 0.5).astype(np.int64)
    ref = torch_reference(path, x)
    np.testing.assert_array_equal(simulate(g, x[None], 10).spikes["layer4"][0], ref[4].numpy())


def _edit(path, edit) -> None:
    dense_skip_file(path)
    with h5py.File(path, "a") as f:
        edit(f)


def _set(f, key, value) -> None:
    del f[key]
    f.create_dataset(key, data=value)


@pytest.mark.parametrize("edit, error, words", [
    (lambda f: _set(f, "layer/3/layers", np.array([7])), ModelLoadError,
     "layer 3: concat lists layer 7, which is not before it"),
    (lambda f: _set(f, "layer/3/layers", np.array([3])), ModelLoadError,
     "layer 3: concat lists layer 3, which is not before it (a recurrent concat"),
    (lambda f: _set(f, "layer/3/shape", np.array([20])), ModelLoadError,
     "layer 3: concat of layers [2, 0, 1] has shape (24,), the file says (20,)"),
    (lambda f: f["layer/3"].__delitem__("layers"), ModelLoadError,
     "layer 3: concat layer has no 'layers' dataset"),
    (lambda f: f["layer/4/type"].__setitem__(0, b"average"), ModelLoadError,
     "layer 4: average layer reads the concat of layers [2, 0, 1]; only dense and conv"),
    (lambda f: f["layer"].__delitem__("4"), ModelLoadError,
     "layer 3: concat is the last layer"),
    (lambda f: _set(f, "layer/4/weight", np.ones((5, 20), np.float32)), ModelLoadError,
     "layer 4: dense weight of shape (5, 20) does not map 24 inputs to 5 neurons"),
    (lambda f: f["layer/1/type"].__setitem__(0, b"unpool"), UnsupportedOp,
     "layer 1: layer type 'unpool' is not supported (an unpool"),
    (lambda f: f["layer/1/type"].__setitem__(0, b"dense_comp"), UnsupportedOp,
     "layer 1: layer type 'dense_comp' is not supported (a complex dense layer"),
])
def test_concat_refusals_are_one_sentence(tmp_path, edit, error, words):
    path = tmp_path / "bad.net"
    _edit(path, edit)
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message, message


def test_concat_of_mismatched_maps_is_refused(tmp_path):
    """Layer 2 with stride 2 is (3, 3, 3): it cannot join layer 1's (3, 5, 5) maps."""
    path = tmp_path / "bad.net"
    conv_skip_file(path)
    with h5py.File(path, "a") as f:
        _set(f, "layer/2/stride", np.array([2, 2]))
        _set(f, "layer/2/shape", np.array([3, 3, 3]))
    with pytest.raises(ModelLoadError) as info:
        load(path)
    assert "layer 3: concat cannot join layer 2 (3, 3, 3), layer 1 (3, 5, 5): vectors join end " \
           "to end, (C, H, W) layers along C with equal H and W" in str(info.value)
