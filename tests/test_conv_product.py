"""sim/conv_product.py (the layer-major path's Conv product) against an int64 numpy convolution
written here tap by tap: random strides, padding, dilation, groups, binary and graded inputs,
and weights large enough that the float32 bound fails and the register wraps at 24 bits."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.sim import conv_product
from snncompile.sim.synapses import _Conv


def numpy_conv(rows: np.ndarray, op: hw.Conv, in_shape: tuple) -> np.ndarray:
    """wrap24 of the cross-correlation of (m, C*H*W) rows with op.weight, in int64."""
    c_in, h, w = in_shape
    weight = np.asarray(op.weight, np.int64)
    c_out, cin_g, kh, kw = weight.shape
    (sy, sx), (py, px), (dy, dx) = op.stride, op.padding, op.dilation
    x = np.pad(rows.astype(np.int64).reshape(len(rows), c_in, h, w),
               ((0, 0), (0, 0), (py, py), (px, px)))
    oh = (h + 2 * py - dy * (kh - 1) - 1) // sy + 1
    ow = (w + 2 * px - dx * (kw - 1) - 1) // sx + 1
    out = np.zeros((len(rows), c_out, oh, ow), np.int64)
    cout_g = c_out // op.groups
    for g in range(op.groups):
        xs = x[:, g * cin_g:(g + 1) * cin_g]
        wg = weight[g * cout_g:(g + 1) * cout_g]
        for ky in range(kh):
            for kx in range(kw):
                tap = xs[:, :, ky * dy:ky * dy + sy * (oh - 1) + 1:sy,
                         kx * dx:kx * dx + sx * (ow - 1) + 1:sx]
                out[:, g * cout_g:(g + 1) * cout_g] += np.einsum("mchw,oc->mohw", tap,
                                                                 wg[:, :, ky, kx])
    wrapped = (out + 2**23) % 2**24 - 2**23
    return wrapped.reshape(len(rows), -1)


def random_case(rng, big: bool):
    groups = int(rng.choice([1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    h, w = int(rng.integers(4, 10)), int(rng.integers(4, 10))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    limit = 2**20 if big else 256
    op = hw.Conv(weight=rng.integers(-limit, limit, (c_out, c_in // groups, kh, kw)),
                 stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                 padding=(int(rng.integers(0, 3)), int(rng.integers(0, 3))),
                 dilation=(int(rng.integers(1, 3)), int(rng.integers(1, 3))), groups=groups)
    if (h + 2 * op.padding[0] - op.dilation[0] * (kh - 1) < 1
            or w + 2 * op.padding[1] - op.dilation[1] * (kw - 1) < 1):
        return None
    return op, (c_in, h, w)


@pytest.mark.parametrize("seed", range(12))
def test_conv_product_equals_numpy(seed):
    rng = np.random.default_rng(seed)
    paths = set()
    done = 0
    while done < 6:
        big = bool(done % 2)
        case = random_case(rng, big)
        if case is None:
            continue
        op, in_shape = case
        out_shape = op.output_shape(in_shape)
        syn = _Conv("c", op, in_shape, out_shape, 1)
        graded = done % 3 == 2
        if graded:  # an AnalogInput's int8 payloads (small ones with big weights: below 2^31)
            syn.payload_max, syn.graded = 127, True
            top = 3 if big else 127
            rows = rng.integers(-top, top + 1, (7, int(np.prod(in_shape)))).astype(np.int8)
        else:
            rows = (rng.random((7, int(np.prod(in_shape)))) < rng.random()).astype(np.int8)
        got = conv_product.product(syn, rows)
        np.testing.assert_array_equal(got, numpy_conv(rows, op, in_shape),
                                      err_msg=f"{op} on {in_shape}, graded={graded}")
        assert got.dtype == np.int32
        paths.add(conv_product.exact_bound(syn) < conv_product.EXACT_FLOAT32)
        done += 1
    assert paths == {True, False}, "both the float32 and the wrapping path must be exercised"


def test_exact_bound_is_the_largest_partial_sum():
    op = hw.Conv(weight=np.array([[[[3, -5], [7, 0]]], [[[-2, -9], [1, 1]]]]))
    syn = _Conv("c", op, (1, 3, 3), op.output_shape((1, 3, 3)), 1)
    assert conv_product.exact_bound(syn) == 11  # channel 1's negatives, -2 - 9
    syn.payload_max = 4
    assert conv_product.exact_bound(syn) == 44
    syn.graded = True  # signed payloads: positive and negative terms add up, 3 + 5 + 7
    assert conv_product.exact_bound(syn) == 60


def test_signed_payloads_wrap_past_the_one_sided_bound():
    """+127 under the positive weights and -127 under the negative ones sum past 2^23 although
    each sign's weights alone stay below it: the register must still wrap at 24 bits."""
    weight = np.array([[[[40000, -40000]]]])
    op = hw.Conv(weight=weight)
    syn = _Conv("c", op, (1, 1, 2), op.output_shape((1, 1, 2)), 1)
    syn.payload_max, syn.graded = 127, True
    rows = np.array([[127, -127], [5, 3]], np.int8)
    got = conv_product.product(syn, rows)
    np.testing.assert_array_equal(got, numpy_conv(rows, op, (1, 1, 2)))
    assert got[0, 0] != 2 * 40000 * 127  # 10_160_000 >= 2^23: wrapped


@pytest.mark.parametrize("seed", range(6))
def test_block_constant_kernels_run_as_sum_pool_then_conv(seed):
    """Kernels constant on aligned f x f blocks (a SumPool folded into a Conv) take the pooled
    path and equal the tap-by-tap convolution; one changed weight sends them back."""
    rng = np.random.default_rng(100 + seed)
    fy, fx = int(rng.integers(1, 4)), int(rng.integers(2, 4))
    groups = int(rng.choice([1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    small = rng.integers(-50, 50, (c_out, c_in // groups, int(rng.integers(1, 4)),
                                   int(rng.integers(1, 4))))
    weight = np.repeat(np.repeat(small, fy, axis=2), fx, axis=3)
    in_shape = (c_in, fy * int(rng.integers(3, 6)), fx * int(rng.integers(3, 6)))
    stride = (fy * int(rng.integers(1, 3)), fx * int(rng.integers(1, 3)))
    padding = (fy * int(rng.integers(0, 2)), fx * int(rng.integers(0, 2)))
    for w, pooled in ((weight, True), (weight + (np.arange(weight.size) == 0).reshape(
            weight.shape), False)):
        op = hw.Conv(weight=w, stride=stride, padding=padding, groups=groups)
        syn = _Conv("c", op, in_shape, op.output_shape(in_shape), 1)
        rows = (rng.random((9, int(np.prod(in_shape)))) < 0.3).astype(np.int8)
        got = conv_product.product(syn, rows)
        np.testing.assert_array_equal(got, numpy_conv(rows, op, in_shape), err_msg=str(op))
        assert (syn.conv_plan.pool != (1, 1)) == pooled, syn.conv_plan.pool
        syn = _Conv("c", op, in_shape, op.output_shape(in_shape), 1)
        syn.payload_max, syn.graded = 127, True  # block sums past int8: pooled in float32
        rows = rng.integers(-127, 128, rows.shape).astype(np.int8)
        got = conv_product.product(syn, rows)
        np.testing.assert_array_equal(got, numpy_conv(rows, op, in_shape), err_msg=str(op))


def test_float32_integers_cast_to_int32_in_their_own_bytes():
    """_as_int32 casts the conv's float32 output onto itself; the values (every integer the
    float32 bound allows, both signs, past numpy's 8192-element cast buffer) equal a copy's."""
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**24), 2**24 + 1, 100_003)
    values[:4] = [-(2**24), 2**24, 0, -1]
    flat = values.astype(np.float32)
    out = conv_product._as_int32(flat)
    assert out.dtype == np.int32 and np.shares_memory(out, flat)
    np.testing.assert_array_equal(out, values)


def test_plan_is_reused_per_op_and_remade_for_other_payloads():
    """_plan caches by op (a run remakes its synapses), keyed also on what the plan reads of
    the synapse: a graded synapse of the same op gets its own plan, not the binary one's."""
    op = hw.Conv(weight=np.array([[[[40000, -40000]]]]))
    first = _Conv("c", op, (1, 1, 2), op.output_shape((1, 1, 2)), 1)
    again = _Conv("c", op, (1, 1, 2), op.output_shape((1, 1, 2)), 1)
    graded = _Conv("c", op, (1, 1, 2), op.output_shape((1, 1, 2)), 1)
    graded.payload_max, graded.graded = 127, True
    assert conv_product._plan(again) is conv_product._plan(first)
    assert conv_product._plan(first).exact  # 40000 x 1 < 2^23
    assert not conv_product._plan(graded).exact  # 80000 x 127 >= 2^23: the wrapping path
    rows = np.array([[127, -127]], np.int8)
    np.testing.assert_array_equal(conv_product.product(graded, rows),
                                  numpy_conv(rows, op, (1, 1, 2)))
