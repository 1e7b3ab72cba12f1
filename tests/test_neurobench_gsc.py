"""NeuroBench's trained keyword-spotting model (issue 14): compiles to emu, loihi2 and fpga, and
`estimate` counts NeuroBench's published dense synaptic operations without any data."""

from __future__ import annotations

from neurobench_gsc import PUBLISHED_DENSE, STEPS, gsc_net

from snncompile import api
from snncompile.estimate import activity, energy
from snncompile.frontends.torch_modules import from_module


def test_dense_synops_equal_neurobench_published(third_party):
    """Data-free: the bias-clock synapses that carry the Linear biases are not model synapses."""
    hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), "loihi2")
    assert any(n.endswith(".bias") for n in hw_graph.nodes)  # biases do ride the bias clock
    act = activity.assume(hw_graph, STEPS, 0.1)
    assert energy.neurobench(hw_graph, act)["dense"] == PUBLISHED_DENSE


def test_compiles_to_every_target(third_party, tmp_path):
    from snncompile.backends import get_backend

    for target in ("emu", "loihi2", "fpga"):
        hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), target)
        (tmp_path / target).mkdir()
        files = get_backend(target).write(hw_graph, tmp_path / target)
        assert files and all((tmp_path / target / f).exists() for f in files.values())
