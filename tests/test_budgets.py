"""Resource budgets checked before allocation (issue 20): declared neurons, synapses, weights,
input entries, simulation work and the target's own size are refused with the numbers in one
sentence, before any array of that size exists or any simulator starts."""

from __future__ import annotations

import dataclasses
import resource
import shutil
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from cli_inprocess import assert_refused, invoke

import snncompile.frontends.nir as nir_frontend
from snncompile import api
from snncompile.target import Param, load_target

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
TINY_NETX = REPO / "tests" / "fuzz_corpus" / "tiny_netx.net"


@pytest.fixture
def netx(tmp_path):
    path = tmp_path / "m.net"
    shutil.copy(TINY_NETX, path)
    return path


@pytest.fixture
def digits_build(tmp_path):
    assert invoke(DIGITS, "-o", tmp_path / "b")[0] == 0
    return tmp_path / "b"


def _low_memory_limit():
    """1 GiB more address space than now: an allocation of the declared size would fail."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), hard))
    return soft, hard


def test_a_netx_layer_declaring_2_31_neurons_is_refused_before_allocating(netx):
    # was a memory blow-up: the reader built np.zeros(2^31) before any check
    with h5py.File(netx, "r+") as f:
        del f["layer/0/shape"]
        f["layer/0/shape"] = np.array([2**31, 1, 1])
    soft, hard = _low_memory_limit()
    try:
        line = assert_refused(invoke(netx), "m.net", "/layer/0", "2,147,483,648",
                              "SNNCOMPILE_MAX_NEURONS")
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert "50,000,000" in line


def _pool_chain(path: Path, length: int) -> Path:
    nodes = {"input": nir.Input(input_type=np.array([1, 4, 4]))}
    edges, prev = [], "input"
    for i in range(length):
        nodes[f"p{i}"] = nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                                       padding=np.array([0, 0]))
        edges.append((prev, f"p{i}"))
        prev = f"p{i}"
    nodes.update({"f": nir.Flatten(input_type={"input": np.array([1, 4, 4])}, start_dim=0),
                  "lif": nir.LIF(tau=np.full(16, 0.01), r=np.ones(16), v_leak=np.zeros(16),
                                 v_threshold=np.ones(16)),
                  "output": nir.Output(output_type=np.array([16]))})
    edges += [(prev, "f"), ("f", "lif"), ("lif", "output")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


@pytest.mark.parametrize(("length", "inferred"), [(20, True), (1000, False)])
def test_a_1000_op_nir_chain_skips_nirs_slow_type_inference(tmp_path, monkeypatch, length,
                                                            inferred):
    # was a hang: nir's own inference grows about cubically (minutes at 1,000 ops)
    calls = []
    original = nir.NIRGraph.infer_types
    monkeypatch.setattr(nir.NIRGraph, "infer_types",
                        lambda self: calls.append(len(self.nodes)) or original(self))
    graph = nir_frontend.load(_pool_chain(tmp_path / "chain.nir", length))
    assert len(graph.nodes) == length + 4
    assert bool(calls) == inferred
    assert length + 4 > nir_frontend.NIR_INFER_NODES or inferred


def test_an_npy_input_declaring_10_16_entries_is_refused_from_its_header(digits_build,
                                                                         tmp_path):
    # a 128-byte file that declares (10^8, 10^8) float64 entries: 80 PB if numpy read it
    with open(tmp_path / "x.npy", "wb") as f:
        np.lib.format.write_array_header_2_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (10**8, 10**8)})
    assert_refused(invoke("run", digits_build, "-i", tmp_path / "x.npy", "-o",
                          tmp_path / "y.npy"), "x.npy", "(100000000, 100000000)",
                   "10,000,000,000,000,000 entries", "SNNCOMPILE_MAX_INPUT_ENTRIES")


def test_an_npy_with_a_damaged_header_is_one_sentence(digits_build, tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{garbage      }\n")
    assert_refused(invoke("run", digits_build, "-i", tmp_path / "x.npy", "-o",
                          tmp_path / "y.npy"), "x.npy", "header")


def test_a_model_file_over_the_byte_budget_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setenv("SNNCOMPILE_MAX_MODEL_BYTES", "1000")
    assert_refused(invoke(DIGITS), "digits.pt", "24,199 bytes", "SNNCOMPILE_MAX_MODEL_BYTES")


def test_a_network_over_the_synapse_budget_is_refused_with_the_numbers(monkeypatch):
    monkeypatch.setenv("SNNCOMPILE_MAX_SYNAPSES", "4000")
    # digits: 64 x 64 + 64 x 10 + the bias clock's 64 + 10 connections in the nn graph
    assert_refused(invoke(DIGITS), "digits.pt", "4,736 synapses", "over the budget of 4,000",
                   "SNNCOMPILE_MAX_SYNAPSES")


def test_a_layer_over_the_weight_budget_is_refused_with_the_numbers(monkeypatch):
    monkeypatch.setenv("SNNCOMPILE_MAX_WEIGHTS", "1000")
    assert_refused(invoke(DIGITS), "node '0'", "(64, 64)", "4,096 stored weights",
                   "SNNCOMPILE_MAX_WEIGHTS")


def test_an_hdf5_dataset_over_the_weight_budget_is_refused_before_it_is_read(netx, monkeypatch):
    monkeypatch.setenv("SNNCOMPILE_MAX_WEIGHTS", "100")
    assert_refused(invoke(netx), "m.net", "/layer/2/weight", "(8, 16)", "128 values",
                   "SNNCOMPILE_MAX_WEIGHTS")


def test_a_run_over_the_work_budget_is_refused_before_simulating(digits_build, tmp_path,
                                                                monkeypatch):
    np.save(tmp_path / "x.npy", np.zeros((3, 16, 64), np.int8))
    monkeypatch.setenv("SNNCOMPILE_MAX_WORK", "100000")
    line = assert_refused(invoke("run", digits_build, "-i", tmp_path / "x.npy", "-o",
                                 tmp_path / "y.npy"), "3 samples x 16 steps",
                          "SNNCOMPILE_MAX_WORK")
    assert "227,328 synaptic events" in line  # 3 x 16 x 4,736
    assert not (tmp_path / "y.npy").exists()


def test_an_icarus_run_over_its_budget_is_refused_naming_verilator(tmp_path, monkeypatch):
    # was a hang: the fuzz suite's fpga runs simulated for minutes in Icarus
    assert invoke(DIGITS, "-t", "fpga", "-o", tmp_path / "b")[0] == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 64), np.int8))
    monkeypatch.setenv("SNNCOMPILE_MAX_ICARUS_WORK", "1000")
    assert_refused(invoke("run", tmp_path / "b", "-i", tmp_path / "x.npy", "-o",
                          tmp_path / "y.npy", "--simulator", "icarus"),
                   "2 samples x", "in Icarus", "SNNCOMPILE_MAX_ICARUS_WORK",
                   "--simulator verilator")


def test_a_network_larger_than_the_target_is_refused_before_placement(monkeypatch):
    emu = load_target("loihi2")
    limits = {**emu.limits, "neurons_per_chip": Param(50, "test", "published"),
              "chips_per_system": Param(1, "test", "code")}
    small = dataclasses.replace(emu, sections={**emu.sections, "limits": limits})
    monkeypatch.setattr("snncompile.backends.place",
                        lambda *a: pytest.fail("the partitioner ran"))
    with pytest.raises(api.SnnCompileError, match=r"74 neurons, more than target 'loihi2' "
                       r"holds \(50 = neurons_per_chip x chips_per_system\)"):
        api.build(DIGITS, small)


def test_unverified_target_limits_do_not_refuse(monkeypatch):
    emu = load_target("loihi2")
    limits = {**emu.limits, "neurons_per_chip": Param(50, "test", "unverified")}
    small = dataclasses.replace(emu, sections={**emu.sections, "limits": limits})
    assert api.build(DIGITS, small).hw_graph.num_neurons() == 74


def test_a_bad_o_is_refused_before_the_compile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("compiled before refusing"))
    assert_refused(invoke(DIGITS, "-o", "."), "-o .", "working directory")
