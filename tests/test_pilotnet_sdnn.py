"""Intel's PilotNet SDNN (lava-dl 0.6.0's netx test network, graded sigma-delta spikes) gives
lava-dl's expected output exactly, on the emulator and in our generated Lava program.

lava-dl's own test (tests/lava/lib/dl/netx/test_hdf5.py, test_pilotnet_sdnn) feeds input.npy
(one (W, H, C) frame) from a RingBuffer straight into the input layer's Delta neuron, so the
frame repeats every step, runs len(net.layers) = 9 steps and compares the Sigma readout's output
at every one of them with output.npy (raw hw time: the biases reach the readout before the
frame does).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from snncompile.backends import loihi2
from snncompile.backends.netx_writer import write_layers
from snncompile.frontends.netx import load
from snncompile.ir import hw_ops as hw
from snncompile.sim.emulator import simulate

STEPS = 9  # len(net.layers) in lava-dl's test


@pytest.fixture(scope="module")
def pilotnet(lava_dl_wheel):
    folder = lava_dl_wheel / "gts" / "pilotnet_sdnn"
    graph = load(folder / "network.net")
    frame = np.load(folder / "input.npy")[..., 0].transpose(2, 1, 0)  # (W, H, C) -> (C, H, W)
    x = np.ascontiguousarray(np.broadcast_to(frame, (1, STEPS, *frame.shape)))
    expected = np.load(folder / "output.npy")  # (1 neuron, 9 steps)
    return graph, x, expected


def _readout(graph):
    (out,) = graph.outputs
    return graph.predecessors(out)[0]


def test_pilotnet_sdnn_is_read_as_sigma_delta(pilotnet):
    graph, _, _ = pilotnet
    kinds = [type(op).__name__ for op in graph.nodes.values() if op.kind == "neuron"]
    assert kinds == ["Delta"] + ["SigmaDelta"] * 7 + ["Sigma"]
    assert isinstance(graph.nodes["input"], hw.GradedInput)
    first = graph.nodes["layer1"]
    assert (first.vth, first.spike_exp, first.state_exp, first.num_message_bits) == (13, 6, 6, 16)


def test_emulator_equals_lava_dl_expected_output(pilotnet):
    graph, x, expected = pilotnet
    trace = simulate(graph, x, STEPS)
    got = trace.spikes[_readout(graph)][0].T  # (neuron, step)
    np.testing.assert_array_equal(got, expected)
    assert np.count_nonzero(expected) == 8  # the check has teeth: 8 of 9 steps are non-zero


def test_generated_lava_program_equals_expected_output(pilotnet, tmp_path):
    """Our build (Lava's own sdn processes) run under Lava fixed_pt, ~15 s."""
    graph, x, expected = pilotnet
    loihi2.write(graph, tmp_path)
    raw, _ = loihi2.run_program(tmp_path, x, steps=STEPS, raw=True, timeout=600)
    assert raw.dtype == np.int32
    np.testing.assert_array_equal(raw[0].T, expected)


def run_lava_dl_netx(path, frame: np.ndarray) -> np.ndarray:
    """lava-dl's own test_pilotnet_sdnn on `path`: netx.hdf5.Network in Lava fixed_pt, the frame
    (C, H, W) from a one-step RingBuffer into the input Delta, 9 steps; (neuron, step)."""
    from netx_shim import import_netx

    netx = import_netx()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path))
    assert len(net.layers) == STEPS
    source = Source(data=frame.transpose(2, 1, 0)[..., None].astype(np.int32))
    sink = Sink(shape=net.out_layer.shape, buffer=STEPS)
    source.s_out.connect(net.in_layer.neuron.a_in)
    net.out_layer.out.connect(sink.a_in)
    net.run(condition=RunSteps(num_steps=STEPS), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        return np.asarray(sink.data.get())
    finally:
        net.stop()


def test_netx_export_is_read_back_exactly(pilotnet, tmp_path):
    """Our netx writer's /layer view of the graph: lava-dl's netx builds it in Lava and gives
    the expected output, and our reader reads it back to a graph with the same output."""
    graph, x, expected = pilotnet
    path = tmp_path / "sdnn.net"
    with h5py.File(path, "w") as f:
        assert write_layers(graph, f) == []
    back = load(path)
    assert [type(op) for op in back.nodes.values()] == [type(op) for op in graph.nodes.values()]
    np.testing.assert_array_equal(simulate(back, x, STEPS).spikes[_readout(back)][0].T, expected)
    np.testing.assert_array_equal(run_lava_dl_netx(path, x[0, 0]), expected)
