"""netx users: `--reset-interval N` is lava-dl's `netx.hdf5.Network(reset_interval=N)`, checked
against lava-dl's own netx running in Lava fixed_pt (u, v and spikes), and through the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from netx_shim import import_netx
from test_cli import DIGITS, assert_one_sentence_error, snncompile
from test_netx import lava_order, lifs, random_input, run_netx, small_graphs

from snncompile.backends.netx_writer import write_layers
from snncompile.errors import InputError, ModelLoadError
from snncompile.frontends.netx import load
from snncompile.ir import hw_ops as hw
from snncompile.sim.emulator import simulate


def _netx_file(tmp_path, name: str):
    g = small_graphs()[name]
    path = tmp_path / f"{name}.net"
    with h5py.File(path, "w") as f:
        assert write_layers(g, f) == []
    return g, path


@pytest.mark.parametrize("name, interval", [("dense_mixed_exc", 4), ("graded_recurrent", 5)])
def test_reset_interval_equals_lava_dl(tmp_path, name, interval):
    netx = import_netx()
    g, path = _netx_file(tmp_path, name)
    ours = load(path, reset_interval=interval)
    offsets = [ours.nodes[n].reset_offset for n in lifs(ours)]
    assert offsets == list(range(1, len(offsets) + 1))  # lava-dl: one step later per layer
    assert all(ours.nodes[n].reset_interval == interval for n in lifs(ours))
    steps = 15
    x = random_input(g, steps, seed=4)
    mine = simulate(ours, x[None], steps, record=True)
    out, state, _ = run_netx(netx, path, g, x.astype(np.int32), reset_interval=interval)
    (out_name,) = ours.outputs
    np.testing.assert_array_equal(out, mine.spikes[out_name][0])
    assert out.sum() > 0
    for k, n in enumerate(lifs(ours)):
        np.testing.assert_array_equal(state[k][0], lava_order(mine.u[n][0, -1]), err_msg=n)
        np.testing.assert_array_equal(state[k][1], lava_order(mine.v[n][0, -1]), err_msg=n)
    plain = simulate(load(path), x[None], steps, record=True)  # the resets matter here
    assert any(not np.array_equal(plain.v[a], mine.v[b])
               for a, b in zip(lifs(load(path)), lifs(ours), strict=True))


def test_reset_interval_through_the_cli(tmp_path):
    _, path = _netx_file(tmp_path, "dense_mixed_exc")
    build = tmp_path / "build"
    result = snncompile(path, "--reset-interval", "4", "-o", build)
    assert result.returncode == 0, result.stderr
    assert '"reset_interval": 4' in (build / "model.hw.txt").read_text()
    x = (np.random.default_rng(0).random((3, 30, 12)) < 0.4).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    result = snncompile("run", build, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr  # 30 steps: periodic resets, on purpose
    assert_one_sentence_error(snncompile(DIGITS, "--reset-interval", "4"),
                              "reset_interval does not apply to .pt files")
    assert snncompile(path, "--reset-interval", "0").returncode == 2


def test_bad_reset_intervals_are_one_sentence(tmp_path):
    _, path = _netx_file(tmp_path, "dense_mixed_exc")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ModelLoadError, match="reset interval must be a whole number"):
            load(path, reset_interval=bad)


def _lava_with_bias(netx, path, frame: np.ndarray, steps: int):
    """lava-dl's Network with the frame as the input neurons' bias_mant (Intel's drive) and
    nothing on their a_in: output spikes (steps, *out) and every layer's final (u, v)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink

    net = netx.hdf5.Network(net_config=str(path))
    bias = net.in_layer.neuron.bias_mant
    bias.init = lava_order(frame).reshape(bias.shape).astype(np.int32)
    sink = Sink(shape=net.out.shape, buffer=steps)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
        state = [(layer.neuron.u.get(), layer.neuron.v.get()) for layer in net.layers]
    finally:
        net.stop()
    return np.stack([lava_order(o) for o in np.moveaxis(out, -1, 0)]), state


def test_frames_through_the_input_bias_equal_lava_dl(tmp_path):
    """A frame held as graded input equals lava-dl's netx with the frame in bias_mant: spikes
    and v of every layer, u of every layer after the input one (Lava's input u stays 0)."""
    from snncompile.bias_input import frames_as_steps

    g, path = _netx_file(tmp_path, "graded_recurrent")
    steps = 12
    frame = np.random.default_rng(3).integers(-30, 60, size=g.shapes[g.inputs[0]])
    out, state = _lava_with_bias(import_netx(), path, frame, steps)
    ours = load(path)
    x = frames_as_steps(ours, frame[None], steps, "frames.npy")
    mine = simulate(ours, x, steps, record=True)
    np.testing.assert_array_equal(out, mine.spikes[ours.outputs[0]][0])
    assert out.sum() > 0
    for k, n in enumerate(lifs(ours)):
        np.testing.assert_array_equal(state[k][1], lava_order(mine.v[n][0, -1]), err_msg=n)
        if k:
            np.testing.assert_array_equal(state[k][0], lava_order(mine.u[n][0, -1]), err_msg=n)
        else:
            assert not state[k][0].any()


def test_frames_through_the_cli(tmp_path):
    g, path = _netx_file(tmp_path, "graded_recurrent")
    build = tmp_path / "build"
    assert snncompile(path, "-o", build).returncode == 0
    frames = np.random.default_rng(1).integers(-30, 60, size=(3, *g.shapes[g.inputs[0]]))
    np.save(tmp_path / "frames.npy", frames)
    np.save(tmp_path / "held.npy", np.repeat(frames[:, None], 7, axis=1).astype(np.int32))
    via_bias = snncompile("run", build, "-i", tmp_path / "frames.npy", "--frame-steps", "7",
                          "-o", tmp_path / "a.npy")
    assert via_bias.returncode == 0, via_bias.stderr
    assert snncompile("run", build, "-i", tmp_path / "held.npy", "-o", tmp_path / "b.npy"
                      ).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert np.load(tmp_path / "a.npy").shape[:2] == (3, 7)
    _, spiking = _netx_file(tmp_path, "dense_mixed_exc")
    assert_one_sentence_error(snncompile("verify", spiking, "-t", "loihi2", "-i",
                                         tmp_path / "frames.npy", "--frame-steps", "4"),
                              "input is spikes, not a graded")


def test_frames_need_an_input_layer_without_current_decay(tmp_path):
    from snncompile.bias_input import frames_as_steps

    g = small_graphs()["graded_recurrent"]
    first = g.successors(g.inputs[0])[0]
    op = g.nodes[first]
    slow = g.replace(nodes={**g.nodes, first: hw.LIF(op.shape, 1000, op.dv, op.vth, op.bias_mant,
                                                     op.bias_exp)})
    with pytest.raises(InputError, match="iDecay 1001; a frame held in its bias"):
        frames_as_steps(slow, np.zeros((1, *op.shape)), 4, "f.npy")
