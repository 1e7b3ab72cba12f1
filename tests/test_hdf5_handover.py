"""The HDF5 guard's child hands the datasets it read to the parent (issue 19: a 33M-weight NIR
file was inflated twice): the tree equals nir's own reader's (nir.serialization.hdf2dict) on
every kind of dataset, the parent reads no dataset itself, and the arrays are shared read-only,
not copied."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from nir.serialization import hdf2dict

from snncompile.frontends.hdf5_guard import read_hdf5
from snncompile.ir.op import SealedMemory, frozen_array

NIR_PAPER = ["01_lif/lif_norse.nir", "02_cnn/cnn_sinabs.nir",
             "03_rnn/braille_noDelay_bias_zero.nir"]


def assert_same_tree(ours: object, theirs: object, where: str = "") -> None:
    assert type(ours) is type(theirs), where
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            assert_same_tree(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, np.ndarray):
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), where
        if theirs.dtype.kind == "O":
            assert ours.tolist() == theirs.tolist(), where
        else:
            assert np.array_equal(ours, theirs, equal_nan=theirs.dtype.kind in "fc"), where
    elif isinstance(theirs, h5py.Empty):
        assert ours.dtype == theirs.dtype, where
    else:
        assert ours == theirs, where


def nir_reader_tree(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return hdf2dict(f)


@pytest.mark.parametrize("name", NIR_PAPER)
def test_the_nir_paper_files_read_as_nir_reads_them(third_party, name):
    path = third_party / "nir-paper" / name
    assert_same_tree(read_hdf5(path, "NIR file"), nir_reader_tree(path))


def test_every_kind_of_dataset_reads_as_nir_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "kinds.nir"
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0", dtype=h5py.string_dtype())
        g = f.create_group("node/nodes/a")
        g.create_dataset("type", data="Affine", dtype=h5py.string_dtype())
        g.create_dataset("weight", data=rng.normal(size=(70, 33)), compression="gzip",
                         chunks=(7, 11))
        g["big_endian"] = rng.normal(size=(5, 3)).astype(">f4")
        g["ints"] = rng.integers(-9, 9, (4, 4), dtype=np.int16)
        g["flags"] = np.array([True, False, True])
        g["complex"] = np.array([1 + 2j, 3 - 1j])
        g["scalar_int"] = np.int64(7)
        g["scalar_float"] = 0.25
        g["nan"] = np.array([np.nan, 1.0])
        g["none_long"] = np.zeros((0, 3))
        g["fixed_bytes"] = np.array([b"ab", b"xyz"])
        g["fixed_scalar"] = np.bytes_(b"LIF")
        g["empty"] = h5py.Empty("f8")
        f.create_dataset("node/edges", data=np.array([["in", "a"], ["a", "out"]], dtype=object),
                         dtype=h5py.string_dtype())
    assert_same_tree(read_hdf5(path, "NIR file"), nir_reader_tree(path))


def test_the_parent_reads_no_dataset_and_shares_the_arrays(third_party, monkeypatch):
    """Reads in the child (a fork) are not recorded here; the parent's would be."""
    parent_reads = []

    def record(original):
        def read(self, *args, **kwargs):
            parent_reads.append((os.getpid(), self.name))
            return original(self, *args, **kwargs)
        return read

    pid = os.getpid()
    monkeypatch.setattr(h5py.Dataset, "__getitem__", record(h5py.Dataset.__getitem__))
    monkeypatch.setattr(h5py.Dataset, "read_direct", record(h5py.Dataset.read_direct))
    tree = read_hdf5(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir", "NIR file")
    assert [r for r in parent_reads if r[0] == pid] == []
    weight = tree["node"]["nodes"]["0"]["weight"]
    assert weight.ndim == 4 and not weight.flags.writeable
    assert frozen_array(weight) is weight  # shared by the ops, not copied
    with pytest.raises(ValueError, match="read-only"):
        weight[0, 0, 0, 0] = 1.0


def test_only_sealed_memory_counts_as_frozen(tmp_path):
    """An array over a plain read-only mapping (a file someone may still write) is copied."""
    path = tmp_path / "data.bin"
    path.write_bytes(np.arange(16, dtype=np.float64).tobytes())
    with path.open("rb") as f:
        plain = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        sealed = SealedMemory(f.fileno(), 0, prot=mmap.PROT_READ)
    over_plain = np.frombuffer(plain, np.float64).reshape(4, 4)
    over_sealed = np.frombuffer(sealed, np.float64).reshape(4, 4)
    assert frozen_array(over_sealed) is over_sealed
    copy = frozen_array(over_plain)
    assert copy is not over_plain and np.array_equal(copy, over_plain)
    writable = np.arange(4.0)
    view = writable[:2]
    view.setflags(write=False)
    assert frozen_array(view) is not view  # its owner can still be written


def write_layouts(path: Path) -> dict[str, bool]:
    """Datasets of every layout the guard child meets; name -> whether libdeflate takes it."""
    rng = np.random.default_rng(1)
    taken = {}
    with h5py.File(path, "w") as f:
        def add(name, data, fast, **kw):
            f.create_dataset(name, data=data, **kw)
            taken[name] = fast
        add("edges", rng.normal(size=(70, 33)), True, compression="gzip", chunks=(8, 10))
        add("ints", rng.integers(-99, 99, (5, 6, 7), dtype=np.int16), True, compression="gzip",
            chunks=(2, 4, 3))
        add("one_d", rng.random(1000).astype(np.float32), True, compression=9, chunks=(64,))
        add("shuffled", rng.normal(size=(40, 40)), False, compression="gzip", shuffle=True)
        add("big_endian", rng.normal(size=(30, 30)).astype(">f8"), False, compression="gzip",
            chunks=(8, 8))
        add("contiguous", rng.normal(size=(20, 20)), False)
        add("lzf", rng.normal(size=(20, 20)), False, compression="lzf")
        f.create_dataset("sparse_chunks", shape=(32, 32), dtype="f8", chunks=(8, 8),
                         compression="gzip", fillvalue=2.5)
        f["sparse_chunks"][:8, :8] = 1.0  # one chunk written, the rest the fill value
        taken["sparse_chunks"] = False
        unfiltered = f.create_dataset("unfiltered_chunk", shape=(16, 16), dtype="<i4",
                                      chunks=(8, 8), compression="gzip")
        unfiltered[...] = np.arange(256, dtype="<i4").reshape(16, 16)
        raw = np.full((8, 8), 7, dtype="<i4")
        unfiltered.id.write_direct_chunk((8, 8), raw.tobytes(), filter_mask=1)  # stored as is
        taken["unfiltered_chunk"] = True
    return taken


def test_libdeflate_reads_the_plain_layouts_as_hdf5_does_and_leaves_the_rest(tmp_path):
    from snncompile.frontends.hdf5_inflate import inflate_into

    path = tmp_path / "layouts.h5"
    taken = write_layouts(path)
    with h5py.File(path, "r") as f:
        for name, fast in taken.items():
            dset = f[name]
            target = np.zeros(dset.shape, dset.dtype)
            assert inflate_into(dset, target) is fast, name
            if fast:
                assert np.array_equal(target, dset[()]), name
    assert_same_tree(read_hdf5(path, "NIR file"), nir_reader_tree(path))


def test_a_chunk_that_does_not_inflate_is_hdf5s_to_refuse(tmp_path):
    """libdeflate gives up on it, HDF5 reads it as before and fails: one sentence."""
    from snncompile.errors import ModelLoadError

    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("w", data=np.ones((16, 16)), chunks=(8, 8), compression="gzip")
        d.id.write_direct_chunk((8, 0), b"\x78\x9c not deflate data", filter_mask=0)
    with pytest.raises(ModelLoadError, match="HDF5 cannot read it"):
        read_hdf5(path, "NIR file")
