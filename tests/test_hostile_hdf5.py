"""HDF5 model files are data (issue 20): external links, virtual datasets, external raw storage,
link cycles and absurd declared shapes are refused before any dataset is read, and a read that
does not end is ended by the time budget."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_inprocess import assert_refused, invoke

from snncompile.errors import ModelLoadError
from snncompile.frontends.hdf5_guard import check_hdf5


def copy_into_model_folder(source: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / "model" / name
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(source, copy)
    return copy


@pytest.fixture()
def lif(third_party, tmp_path) -> Path:
    return copy_into_model_folder(third_party / "nir-paper" / "01_lif" / "lif_norse.nir",
                                  tmp_path, "lif.nir")


@pytest.fixture()
def netx(third_party, tmp_path) -> Path:
    return copy_into_model_folder(third_party / "lava-dl" / "pilotnet_lif" / "network.net",
                                  tmp_path, "net.net")


@pytest.fixture()
def secret(tmp_path) -> Path:
    """Another file of the machine, which a model file must not be able to read."""
    path = tmp_path / "secret.h5"
    with h5py.File(path, "w") as f:
        f["w"] = np.full((1, 1), 42.0)
    (tmp_path / "secret.bin").write_bytes(np.full(64, 42.0).tobytes())
    return path


WEIGHT = "node/nodes/0/weight"


def _replace(path: Path, name: str, make) -> None:
    with h5py.File(path, "r+") as f:
        del f[name]
        make(f, name)


def test_nir_external_link_is_refused(lif, secret):
    _replace(lif, WEIGHT, lambda f, n: f.__setitem__(n, h5py.ExternalLink(str(secret), "w")))
    assert_refused(invoke(lif), "external link", str(secret.name))


def test_nir_virtual_dataset_is_refused(lif, secret):
    def make(f, name):
        layout = h5py.VirtualLayout(shape=(1, 1), dtype="f8")
        layout[:] = h5py.VirtualSource(str(secret), "w", shape=(1, 1))
        f.create_virtual_dataset(name, layout)
    _replace(lif, WEIGHT, make)
    assert_refused(invoke(lif), "virtual dataset")


def test_nir_external_raw_storage_is_refused(lif, secret):
    raw = secret.with_name("secret.bin")
    _replace(lif, WEIGHT, lambda f, n: f.create_dataset(
        n, shape=(1, 1), dtype="f8", external=[(str(raw), 0, 8)]))
    assert_refused(invoke(lif), "external file")


def test_nir_soft_link_cycle_is_refused(lif):
    _replace(lif, "node/nodes/0", lambda f, n: f.__setitem__(n, h5py.SoftLink("/node")))
    assert_refused(invoke(lif), "soft link")


def test_nir_hard_link_cycle_is_refused(lif):
    _replace(lif, "node/nodes/0", lambda f, n: f.__setitem__(n, f["node"]))
    assert_refused(invoke(lif), "link cycle")


def test_nir_absurd_declared_shape_is_refused_with_the_numbers(lif):
    # was "MemoryError: Unable to allocate 233. TiB"
    _replace(lif, WEIGHT, lambda f, n: f.create_dataset(
        n, shape=(2**22, 2**21), dtype="f8", chunks=(1, 1024)))
    line = assert_refused(invoke(lif), "weight", "budget")
    assert "(4194304, 2097152)" in line


def test_netx_external_link_is_refused(netx, secret):
    with h5py.File(netx, "r+") as f:
        name = "layer/0/weight"
        del f[name]
        f[name] = h5py.ExternalLink(str(secret), "w")
    assert_refused(invoke(netx), "external link")


def test_a_read_over_the_time_budget_is_ended(lif, monkeypatch):
    monkeypatch.setenv("SNNCOMPILE_READ_SECONDS", "0.000001")
    with pytest.raises(ModelLoadError, match="took more than"):
        check_hdf5(lif, "NIR file")


def test_a_file_that_is_not_hdf5_is_one_sentence(tmp_path):
    path = tmp_path / "x.nir"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert_refused(invoke(path), "x.nir")


def test_intact_files_pass(lif, netx):
    check_hdf5(lif, "NIR file")
    check_hdf5(netx, "netx file")


SPINS = Path(__file__).resolve().parent / "fuzz_corpus" / "spins_hdf5.nir"


def test_a_nir_file_that_makes_hdf5_spin_is_ended_by_the_time_budget(tmp_path, monkeypatch):
    """A mutant of lif_norse.nir on which HDF5's C code loops at 100 % CPU (found by the fuzz
    suite); Ctrl-C could not stop it in-process."""
    import time

    monkeypatch.setenv("SNNCOMPILE_READ_SECONDS", "3")
    t0 = time.monotonic()
    assert_refused(invoke(SPINS), "took more than 3 s")
    assert time.monotonic() - t0 < 30


def test_ctrl_c_ends_a_spinning_hdf5_read(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "snncompile.cli", str(SPINS)],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # start-up, then inside the read
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and time.monotonic() - t0 < 10, err
