"""IR basics: checks catch broken graphs with a named node; the IR reference doc is current."""

from pathlib import Path

import numpy as np
import pytest

from snncompile.errors import GraphCheckError
from snncompile.ir import Graph, hw_ops, nn_ops, text
from snncompile.ir.check import check
from snncompile.ir.image import load_image, save_image
from snncompile.ir.reference_doc import render

REPO = Path(__file__).resolve().parents[1]


def small_graph(n_in=3, n=2, recurrent=True) -> Graph:
    nodes = {
        "in": nn_ops.Input((n_in,)),
        "fc": nn_ops.Affine(np.arange(n * n_in).reshape(n, n_in) / 7, np.zeros(n)),
        "lif": nn_ops.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                          v_threshold=np.ones(n), v_reset=np.zeros(n)),
        "out": nn_ops.Output((n,)),
    }
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "out")]
    if recurrent:
        nodes["rec"] = nn_ops.Linear(np.eye(n))
        edges += [("lif", "rec"), ("rec", "lif")]
    return Graph("nn", nodes, edges, dt=1e-3)


def test_recurrence_and_schedule():
    g = small_graph()
    assert g.recurrent_edges == {("rec", "lif")}
    assert g.schedule.index("lif") < g.schedule.index("rec")
    assert check(g) is g


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda g: g.replace(edges=g.edges + (("fc", "ghost"),)), ["ghost"]),
        (lambda g: g.replace(nodes={**g.nodes, "fc": nn_ops.Affine(np.ones((3, 3)), np.zeros(3))}),
         ["rec", "(3,)", "(2, 2)"]),  # the recurrent Linear's weight no longer fits
        (lambda g: g.replace(dt=0.0), ["dt"]),
        (lambda g: g.replace(nodes={**g.nodes, "orphan": nn_ops.Linear(np.eye(2))}), ["orphan"]),
    ],
)
def test_check_names_the_fault(mutate, words):
    with pytest.raises(GraphCheckError) as info:
        check(mutate(small_graph()), "pass quantize")
    message = str(info.value)
    assert message.startswith("pass quantize: ")
    for word in words:
        assert word in message


def test_hw_ranges_are_checked():
    lif = hw_ops.LIF((2,), du=4095, dv=5000, vth=10, bias_mant=np.zeros(2), bias_exp=np.zeros(2))
    g = Graph("hw", {"in": hw_ops.SpikeInput((2,)), "syn": hw_ops.Dense(np.eye(2, dtype=int)),
                     "lif": lif, "out": hw_ops.SpikeOutput((2,))},
              [("in", "syn"), ("syn", "lif"), ("lif", "out")])
    with pytest.raises(GraphCheckError, match="dv = 5000"):
        check(g)


def test_text_and_image_round_trip(tmp_path):
    g = small_graph()
    assert text.loads(text.dumps(g)) == g
    assert text.dumps(text.loads(text.dumps(g))) == text.dumps(g)
    save_image(g, tmp_path / "g.npz")
    assert load_image(tmp_path / "g.npz") == g


def test_ops_are_frozen():
    op = small_graph().nodes["fc"]
    with pytest.raises(ValueError):
        op.weight[0, 0] = 1.0


def test_ir_reference_doc_is_current():
    assert (REPO / "docs" / "ir.md").read_text() == render()


def test_conv_connections_count_real_inputs_only():
    """Brute force: for each output position, kernel taps that are non-zero and inside the input."""
    from snncompile.ir.stats import connections

    rng = np.random.default_rng(0)
    w = rng.integers(-2, 3, size=(3, 2, 3, 3)) * (rng.random((3, 2, 3, 3)) < 0.6)
    conv = hw_ops.Conv(w, stride=(2, 1), padding=(1, 1))
    in_shape, out_shape = (2, 5, 4), conv.output_shape((2, 5, 4))
    lif = hw_ops.LIF(out_shape, du=4095, dv=0, vth=1, bias_mant=np.zeros(out_shape),
                     bias_exp=np.zeros(out_shape))
    g = Graph("hw", {"in": hw_ops.SpikeInput(in_shape), "c": conv, "lif": lif,
                     "out": hw_ops.SpikeOutput(out_shape)},
              [("in", "c"), ("c", "lif"), ("lif", "out")])
    expected = 0
    for co in range(3):
        for oy in range(out_shape[1]):
            for ox in range(out_shape[2]):
                for ci in range(2):
                    for ky in range(3):
                        for kx in range(3):
                            y, x = oy * 2 - 1 + ky, ox - 1 + kx
                            inside = 0 <= y < 5 and 0 <= x < 4
                            expected += int(inside and w[co, ci, ky, kx] != 0)
    assert connections(g) == {"lif": expected}


def test_empty_outputs_are_refused():
    g = Graph("nn", {"in": nn_ops.Input((1, 1, 1)),
                     "pool": nn_ops.SumPool2d(kernel_size=(2, 2), stride=(2, 2)),
                     "out": nn_ops.Output((1, 0, 0))},
              [("in", "pool"), ("pool", "out")])
    with pytest.raises(GraphCheckError, match="'pool'.*empty output"):
        check(g)
