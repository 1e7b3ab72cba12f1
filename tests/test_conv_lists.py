"""Shared conv weight lists (partition/conv_lists.py): decoding the lists of a block (each axon's
list, read at its compartment base) gives exactly the block's rows of the convolution as torch
computes it; nengo-loihi's own conv builder keeps the same lists and charges the same memory;
the shape cache never changes an answer; and the Loihi-1-like target's conv stacks become
neuron-bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile.ir import hw_ops as hw
from snncompile.partition import core_model, lower_bound, partition
from snncompile.partition.conv_lists import ConvLists, Where, entry_bits
from snncompile.partition.layers import layers_of
from snncompile.partition.resources import CoreModel

# small pages, groups and words, so paging, grouping and rounding all happen on small blocks
MODEL = CoreModel(target="tiny", neurons=None, synapse_bits=None, fan_in=None, fan_out=None,
                  cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=1, index_bits=6,
                  axon_header_bits=3, conv_lists=True, base_page=8, group_synapses=4,
                  word_bits=16)


def test_entry_bits_follow_nengo_loihi():
    """bits_per_axon: groups of 64 synapses, 10-bit header each, rounded up to 64-bit words."""
    loihi1 = core_model("loihi1")
    assert (loihi1.group_synapses, loihi1.axon_header_bits, loihi1.word_bits) == (64, 10, 64)
    got = entry_bits(np.array([0, 1, 3, 64, 65, 128]), 15, loihi1)
    assert got.tolist() == [0, 64, 64, 1024, 1024 + 64, 2048]  # 64*15+10 = 970 -> 1024


@st.composite
def conv_block(draw):
    """A random conv op and a block of its output: channels c0:c1, positions a..b of a tile."""
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * (3 - draw(st.integers(0, 2)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)))
    h_in, w_in = 8 - draw(st.integers(0, 5)), 8 - draw(st.integers(0, 5))
    h = (h_in + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    w = (w_in + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    if h < 1 or w < 1:
        h_in, w_in, pad, dil = 8, 8, (0, 0), (1, 1)
        h, w = (8 - kh) // stride[0] + 1, (8 - kw) // stride[1] + 1
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    weight = rng.integers(-3, 4, (cout, cin // groups, kh, kw))
    op = hw.Conv(weight=weight, stride=stride, padding=pad, dilation=dil, groups=groups)
    c0 = draw(st.integers(0, cout - 1))
    c1 = cout - draw(st.integers(0, cout - 1 - c0))
    top, col = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    # drawn so that examples shrink towards large blocks (several pages and groups)
    rows = h - top - draw(st.integers(0, h - top - 1))
    wd = w - col - draw(st.integers(0, w - col - 1))
    a = draw(st.integers(0, rows * wd - 1))
    b = rows * wd - 1 - draw(st.integers(0, rows * wd - 1 - a))
    geom = (*stride, *pad, *dil, kh, kw, h_in, w_in)
    return op, (cin, h_in, w_in), c0, c1, Where(top, col, wd, a, b), geom


def torch_rows(op, src, c0, c1, at) -> np.ndarray:
    """The block's rows (compartment order: position, then channel) of the conv's dense matrix,
    from torch.nn.functional.conv2d of every one-hot input."""
    cin, h_in, w_in = src
    eye = torch.eye(cin * h_in * w_in, dtype=torch.float64).reshape(-1, cin, h_in, w_in)
    out = torch.nn.functional.conv2d(eye, torch.tensor(op.weight, dtype=torch.float64),
                                     stride=op.stride, padding=op.padding,
                                     dilation=op.dilation, groups=op.groups).numpy()
    q = np.arange(at.a, at.b + 1)
    ys, xs = at.top + q // at.wd, at.col + q % at.wd
    rows = out[:, c0:c1, ys, xs]  # (sources, channels, positions)
    return rows.transpose(2, 1, 0).reshape(-1, out.shape[0])


@settings(max_examples=150, deadline=None)
@given(conv_block())
def test_lists_decode_to_the_convolution(case):
    op, src, c0, c1, at, geom = case
    lists = ConvLists(op, geom, per=4, model=MODEL)
    axon_map, table = lists.lists(c0, c1, at)
    n_comp = (c1 - c0) * (at.b - at.a + 1)
    cin, h_in, w_in = src
    decoded = np.zeros((n_comp, cin * h_in * w_in))
    for (ci, i, j), (k, offset) in axon_map.items():
        assert 0 <= offset < MODEL.base_page
        idx, taps = table[k]
        comp = offset + idx
        assert comp.min() >= 0 and comp.max() < n_comp
        w = op.weight.reshape(op.weight.shape[0], op.weight.shape[1], -1)[
            taps[:, 0], taps[:, 1], taps[:, 2]]
        np.add.at(decoded, (comp, ci * h_in * w_in + i * w_in + j), w)
    np.testing.assert_array_equal(decoded, torch_rows(op, src, c0, c1, at))
    # memory: one entry per stored list, and the cached shape count agrees with a fresh one
    stored = sum(int(entry_bits(len(idx), 4, MODEL)) for idx, _ in table if len(idx))
    assert lists.bits(c0, c1, at) == stored
    assert ConvLists(op, geom, per=4, model=MODEL).bits(c0, c1, at) == stored


def test_wide_kernels_count_like_narrow_ones():
    """Kernels with more taps than fit one int64 key (keys() falls back to row-wise unique)
    count the same memory as the lists they store."""
    rng = np.random.default_rng(2)
    op = hw.Conv(weight=rng.integers(-2, 3, (2, 1, 8, 9)), padding=(4, 4))
    geom = (1, 1, 4, 4, 1, 1, 8, 9, 12, 12)
    lists = ConvLists(op, geom, per=5, model=MODEL)
    for at in (Where(0, 0, 12, 0, 60), Where(3, 2, 9, 4, 40)):
        _, table = lists.lists(0, 2, at)
        assert lists.keys(0, 2, at)[0].shape[1] == 72
        assert lists.bits(0, 2, at) == sum(int(entry_bits(len(i), 5, MODEL)) for i, _ in table)


def test_shape_cache_matches_fresh_counts():
    """Every block of a 3x3 conv layer, counted with one warm cache and with a fresh one."""
    rng = np.random.default_rng(1)
    op = hw.Conv(weight=rng.integers(-2, 3, (3, 2, 3, 3)), padding=(1, 1))
    geom = (1, 1, 1, 1, 1, 1, 3, 3, 9, 11)
    warm = ConvLists(op, geom, per=5, model=MODEL)
    for wd in (3, 4, 11):
        for top in range(0, 9, 2):
            for col in range(0, 11 - wd + 1, 2):
                for a, b in ((0, wd * 2 - 1), (1, wd + 1), (2, 2)):
                    at = Where(top, col, wd, a, min(b, wd * (9 - top) - 1))
                    assert warm.bits(0, 3, at) == ConvLists(op, geom, 5, MODEL).bits(0, 3, at)


@pytest.mark.parametrize("neurons", [10_000, 100_000])
def test_loihi1_conv_stacks_are_neuron_bound(neurons):
    """With shared lists the Loihi-1-like target packs the generated conv stacks into as many
    cores as their neurons need (they were memory-bound at 1.10 / 1.27 x the bound)."""
    from benchmarks.compile_scale import generated

    graph = generated(neurons)
    p = partition(graph, "loihi1")
    bound = lower_bound(layers_of(graph, core_model("loihi1")), core_model("loihi1"))
    assert max(bound.values()) == bound["neurons"]
    assert p.metrics["cores"] <= 1.05 * bound["neurons"]
    use = p.core_use()
    assert (use[:, 1] <= core_model("loihi1").synapse_bits).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.sampled_from([1, 3]), st.integers(4, 12),
       st.integers(4, 12), st.sampled_from(["same", "valid", "valid2"]), st.integers(0, 2**31))
def test_lists_match_nengo_loihi(cin, nf, k, h, w, mode, seed):
    """nengo-loihi's own Loihi 1 conv builder (conv2d_loihi_weights, then Synapse.bits) on the
    same convolution keeps the same lists (tap mask x 256-compartment page) and, charged as it
    groups them (one list for all input channels), the same synapse memory. Whole-layer block:
    its channels-last output is our compartment order. Kernels have no zero weights, since
    nengo-loihi stores zeros and we drop them."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nengo-loihi 1.1.0 warns about nengo 4.1.0
        import nengo
        from nengo_loihi.block import Synapse
        from nengo_loihi.conv import conv2d_loihi_weights

    rng = np.random.default_rng(seed)
    kernel = rng.integers(1, 16, (k, k, cin, nf)) * rng.choice([-1, 1], (k, k, cin, nf))
    stride = 2 if mode == "valid2" else 1
    tr = nengo.Convolution(nf, (h, w, cin), kernel_size=(k, k), strides=(stride, stride),
                           padding="same" if mode == "same" else "valid", channels_last=True,
                           init=kernel.astype(float))
    weights, indices, axon_to_weight, offsets = conv2d_loihi_weights(tr)
    syn = Synapse(h * w)
    syn.set_population_weights([np.asarray(x, np.float32) for x in weights],
                               [np.asarray(i, np.int32) for i in indices],
                               axon_to_weight, offsets, pop_type=32)

    pad = (k - 1) // 2 if mode == "same" else 0
    op = hw.Conv(weight=kernel.transpose(3, 2, 0, 1), stride=(stride, stride), padding=(pad, pad))
    h_out, w_out = tr.output_shape.spatial_shape
    geom = (stride, stride, pad, pad, 1, 1, k, k, h, w)
    per = syn.synapse_cfg.real_weight_bits + syn.synapse_cfg.real_idx_bits
    ours = ConvLists(op, geom, per, core_model("loihi1"))
    at = Where(0, 0, w_out, 0, h_out * w_out - 1)
    masks, pages = ours.keys(0, nf, at)
    theirs = sorted((x.shape[1] // nf, int(i.min()) // 256) for x, i in zip(weights, indices))
    assert sorted(zip(masks.sum(1).tolist(), pages.tolist())) == theirs
    sizes = masks.astype(np.int64) @ ours.counts(0, nf).T  # (lists, input channels)
    assert int(entry_bits(sizes.sum(1), per, ours.model).sum()) == syn.bits()
