"""conv_product's spike-by-spike Conv product (_scatter, conv_scatter.conv_rows) against the int64
numpy convolution of test_conv_product and against torch's conv2d path: random binary convs
(strides, padding, dilation, groups, 8-channel vector groups and short scalar ones, sum-pool
folded kernels), and which path `product` picks by the block's spike share."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv_product import numpy_conv

from snncompile.ir import hw_ops as hw
from snncompile.sim import conv_product
from snncompile.sim.synapses import _Conv


def random_binary_case(rng):
    groups = int(rng.choice([1, 2, 4]))
    per_out = int(rng.choice([1, 3, 8, 16]))  # 8 and 16: the vector adds
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * per_out
    h, w = int(rng.integers(4, 14)), int(rng.integers(4, 14))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    weight = rng.integers(-300, 300, (c_out, c_in // groups, kh, kw))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if rng.random() < 0.3:  # a 2x2 sum pool folded into the conv after it (lowering's fold)
        weight = np.repeat(np.repeat(weight, 2, axis=2), 2, axis=3)
        h, w, kh, kw = 2 * h, 2 * w, 2 * kh, 2 * kw
        stride, padding, dilation = (2 * stride[0], 2 * stride[1]), (0, 0), (1, 1)
    op = hw.Conv(weight=weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if (h + 2 * padding[0] - dilation[0] * (kh - 1) < 1
            or w + 2 * padding[1] - dilation[1] * (kw - 1) < 1):
        return None
    return op, (c_in, h, w)


@pytest.mark.parametrize("seed", range(10))
def test_scatter_equals_numpy_and_conv2d(seed, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    done = 0
    while done < 6:
        case = random_binary_case(rng)
        if case is None:
            continue
        op, in_shape = case
        syn = _Conv("c", op, in_shape, op.output_shape(in_shape), 1)
        assert conv_product.exact_bound(syn) < conv_product.EXACT_FLOAT32
        n_in = int(np.prod(in_shape))
        rows = (rng.random((9, n_in)) < rng.choice([0.02, 0.1, 0.5])).astype(np.int8)
        rows[int(rng.integers(0, 9))] = 0  # a silent row among active ones
        got = conv_product._scatter(syn, rows)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, numpy_conv(rows, op, in_shape), err_msg=str(op))
        monkeypatch.setattr(conv_product, "SCATTER_DENSITY", -1.0)  # torch's conv2d instead
        np.testing.assert_array_equal(got, conv_product.product(syn, rows), err_msg=str(op))
        monkeypatch.undo()
        done += 1


def test_product_picks_scatter_only_for_sparse_binary_exact_blocks(monkeypatch):
    rng = np.random.default_rng(7)
    op = hw.Conv(weight=rng.integers(-9, 9, (16, 2, 3, 3)), stride=(1, 1), padding=(1, 1),
                 dilation=(1, 1), groups=1)
    syn = _Conv("c", op, (2, 8, 8), op.output_shape((2, 8, 8)), 1)
    calls = []
    real = conv_product._scatter
    monkeypatch.setattr(conv_product, "_scatter", lambda s, r: calls.append(len(r)) or real(s, r))
    sparse = (rng.random((5, 128)) < 0.05).astype(np.int8)
    dense = (rng.random((5, 128)) < 0.6).astype(np.int8)
    for rows in (sparse, dense):
        np.testing.assert_array_equal(conv_product.product(syn, rows), numpy_conv(rows, op,
                                                                                  (2, 8, 8)))
    assert calls == [5]  # the sparse block only
    many = (rng.random((200, 128)) < 0.05).astype(np.int8)
    np.testing.assert_array_equal(conv_product.product(syn, many), numpy_conv(many, op, (2, 8, 8)))
    assert calls == [5, 200]  # a sparse block of many rows too
    syn.graded, syn.payload_max = True, 1  # graded payloads: conv2d even when sparse
    conv_product.product(syn, sparse)
    assert calls == [5, 200]


@pytest.mark.parametrize("density", [0.0, 0.03, 0.3, 1.0])
def test_scatter_by_words_equals_numpy(density):
    """Planes of a multiple of 8 positions gather their non-zero uint64 words first
    (conv_scatter._conv_scatter_planes): 16 and 8 output channels (two and one vector adds per
    tap), 3 channels (the scalar loop), silent and full rows among them."""
    rng = np.random.default_rng(int(density * 100))
    for c_out, stride in ((16, 1), (8, 2), (3, 1)):
        in_shape = (4, 8, 6)
        op = hw.Conv(weight=rng.integers(-300, 300, (c_out, 4, 3, 3)), stride=(stride, stride),
                     padding=(1, 1), dilation=(1, 1), groups=1)
        syn = _Conv("c", op, in_shape, op.output_shape(in_shape), 1)
        rows = (rng.random((5, 4 * 8 * 6)) < density).astype(np.int8)
        rows[2] = 0
        got = conv_product._scatter(syn, rows)
        np.testing.assert_array_equal(got, numpy_conv(rows, op, in_shape), err_msg=str(op))
