"""The compile's shortcuts for large nets give what the general code gives, value for value: a
Linear's matrix taken as is (not pushed through as an identity), chunked weight encoding,
row-blocked headroom sums, frozen arrays shared instead of copied, integer arrays stored narrow."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image
from snncompile.ir.lowered_ops import GroupedConv, GroupedDense
from snncompile.ir.op import frozen_array
from snncompile.passes import Lower
from snncompile.passes import encode as enc
from snncompile.passes.assemble import Incoming
from snncompile.passes.lower import _Lowering
from snncompile.passes.worst_case import headroom_need
from snncompile.target import load_target

TARGET = load_target("emu")
RNG = np.random.default_rng(3)


def lif(n):
    return nn.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))


@pytest.mark.parametrize("op_kind", ["linear", "affine"])
def test_direct_dense_equals_the_identity_push(op_kind):
    w = RNG.normal(size=(7, 12))
    w[0, :3] = -0.0  # the identity push gives +0.0: so must the shortcut
    op = nn.Linear(w) if op_kind == "linear" else nn.Affine(w, RNG.normal(size=7))
    g = Graph("nn", {"in": nn.Input((3, 4)), "fc": op, "lif": lif(7), "out": nn.Output((7,))},
              (("in", "fc"), ("fc", "lif"), ("lif", "out")))
    low = _Lowering(Lower(), g)
    syns, _ = low.upstream("lif")
    direct = low.direct_dense(syns, "lif", "in", None)
    assert direct is not None
    # an op swap (as the delay split does) sends the chain through the general identity push
    general = low.dense(syns, "lif", "in", ops={"fc": nn.Linear(np.asarray(op.weight))})
    assert np.array_equal(direct, general) and not np.signbit(direct[direct == 0]).any()
    assert np.array_equal(Lower()(g).nodes["fc"].weight, general)


@pytest.mark.parametrize("shape, step_bits", [((300, 1000), 8), ((5, 3, 3, 3), 8), ((40, 70), 5)])
def test_chunked_encoding_equals_the_formula(shape, step_bits):
    x = RNG.normal(scale=0.2, size=shape)
    x.reshape(-1)[::7] = 0.0
    conv = len(shape) == 4
    ext = enc.extremes(x)
    e = enc.fit_exponent(x, 300, TARGET, conv, bits=step_bits, ext=ext)
    code = enc.encode_weights(x, 300, e, TARGET, conv, step_bits, ext)
    step = enc.limits(enc.sign_mode_of(x), TARGET, conv, step_bits)[2]
    want = step * np.rint(np.asarray(x * (300 / 2.0**e), np.float64) / step)
    assert np.array_equal(code.weights, want.astype(np.int64))
    assert code.max_err == float(np.abs(want * 2.0**e / 300 - x).max(initial=0))
    m = code.weights // step
    bits = (max(int(m.max()).bit_length(), int(-m.min() - 1).bit_length()) + 1
            if code.sign_mode == "mixed" else int(np.abs(m).max()).bit_length())
    assert code.bits == bits and not code.weights.flags.writeable
    assert hw.Dense(code.weights, weight_exp=e).weights is code.weights  # shared, not copied


def test_headroom_sums_by_row_blocks_equal_whole_matrix_sums():
    x = RNG.normal(size=(600, 900))
    k = RNG.normal(size=(6, 4, 3, 3))
    vb, a, b = np.zeros(600), np.ones(600), np.full(600, 0.1)
    dense = Incoming("fc", "in", GroupedDense(x, (600,), False, ("fc",)))
    got = headroom_need([x], [dense], None, vb, a, b)
    pos, neg = np.clip(x, 0, None).sum(axis=1), np.clip(-x, 0, None).sum(axis=1)
    u = np.maximum(pos, neg)
    assert got == float(max(u.max(), (1 + u).max(), (u / 0.1).max()))
    n = 6 * 25
    conv = Incoming("c", "in", GroupedConv(k, (1, 1), (1, 1), (1, 1), 1, False, ("c",)))
    got = headroom_need([k], [conv], None, np.zeros(n), np.ones(n), np.zeros(n))
    assert got == float(1 + np.maximum(np.clip(k, 0, None).sum(axis=(1, 2, 3)),
                                       np.clip(-k, 0, None).sum(axis=(1, 2, 3))).max())


def test_frozen_arrays_are_shared_writable_ones_copied():
    a = np.arange(6.0)
    frozen = frozen_array(a)
    assert frozen is not a and frozen_array(frozen) is frozen
    view = frozen.reshape(2, 3)
    assert frozen_array(view) is view
    writable_owner = a.reshape(2, 3)
    writable_owner.setflags(write=False)  # read-only, but `a` can still change it
    assert frozen_array(writable_owner) is not writable_owner
    assert frozen_array(frozen, np.int64) is not frozen


def test_integer_arrays_are_stored_narrow_and_read_back_as_their_dtype(tmp_path):
    w = RNG.integers(-256, 255, (80, 90))
    g = Graph("hw", {"in": hw.SpikeInput((90,)), "fc": hw.Dense(w, weight_exp=-2),
                     "lif": hw.LIF((80,), du=4095, dv=100, vth=40, bias_mant=np.zeros(80),
                                   bias_exp=np.zeros(80)), "out": hw.SpikeOutput((80,))},
              (("in", "fc"), ("fc", "lif"), ("lif", "out")))
    text.write(g, tmp_path / "m.txt", "hw_graph")
    with np.load(tmp_path / "m.npz") as stored:
        assert stored["fc/weights"].dtype == np.int16
    save_image(g, tmp_path / "m.img.npz")
    for back in (text.read(tmp_path / "m.txt"), load_image(tmp_path / "m.img.npz")):
        assert back.nodes["fc"].weights.dtype == np.int64
        assert text.dumps(back) == text.dumps(g)
    assert text.narrowest(np.array([2**40])).dtype == np.int64
