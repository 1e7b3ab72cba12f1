"""kernels.dense_lif_run's summed rows (kernels._spike_sum: int8 or int16 weight rows added in
int16 or int32 lanes, int_lanes.lane_add) against numpy's int64 matrix product, read through
the LIF's u: with the u decay factor 0, u after step t is the register of source step t - 1
shifted left by 6, so u_rec shows every sum the kernel made. Low and high densities take the
add and the subtract-from-total branches, a few sources the word scan; extreme int16 weights
make the partial sums wrap in int16 while each final sum fits, as the kernel's contract allows.
"""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim import fast, kernels
from snncompile.sim.emulator import simulate


def summed_u(src: np.ndarray, w: np.ndarray, acc_dtype) -> np.ndarray:
    """u_rec of dense_lif_run over src (batch, steps, n_in) int8 with weights w (n_in, n_out);
    words given whenever n_in allows (the kernel then picks its scan by density)."""
    batch, steps, n_in = src.shape
    n = w.shape[1]
    total = w.sum(axis=0, dtype=np.int64).astype(acc_dtype)  # wraps as the kernel's sums do
    words = src.view(np.uint64) if n_in % 8 == 0 else np.zeros((0, 0, 0), np.uint64)
    state = np.zeros((batch, n), np.int64)
    u_rec = np.empty((batch, steps, n), np.int32)
    params = np.zeros(n, np.int64)
    kernels.dense_lif_run(src, words, w, total, 0, np.empty(n, acc_dtype), state.copy(),
                          state.copy(), np.zeros((batch, n), np.int8), params, params,
                          np.full(n, 2**30, np.int64), params, 0, 0, 0, 0,
                          np.empty((batch, steps, n), np.int8), u_rec,
                          np.empty((batch, steps, n), np.int32), np.zeros(steps, np.int64), None)
    return u_rec


def expected_u(src: np.ndarray, w: np.ndarray) -> np.ndarray:
    sums = src.astype(np.int64) @ w.astype(np.int64)  # (batch, steps, n_out), exact
    out = np.zeros_like(sums)
    out[:, 1:] = sums[:, :-1] << 6  # step t reads source step t - 1
    return out


def wrapping_int16_rows(rng: np.random.Generator, n_in: int, n: int) -> np.ndarray:
    """Rows in fours (+a, +b, -c, -(a + b - c) + s), a, b >= 18,000 and |s| <= 100: added in
    order, a quad's first two rows take any sum within +-1,600 out of int16 (a + b >= 36,000),
    the last two bring it back to the sum plus s."""
    assert n_in % 4 == 0 and n_in <= 64  # whole quads; |sum of the s| <= 1,600
    w = np.empty((n_in, n), np.int64)
    for i in range(0, n_in, 4):
        a, b, c = rng.integers(18000, 20001, (3, n))
        w[i], w[i + 1], w[i + 2], w[i + 3] = a, b, -c, -(a + b - c) + rng.integers(-100, 101, n)
    assert np.abs(w).max() < 2**15
    return w.astype(np.int16)


@pytest.mark.parametrize("n_in", [44, 48])
def test_int16_sums_that_wrap_on_the_way(n_in):
    """Whole quads on or off (so every final sum is a sum of the small s, and the kernel adds
    each active or silent quad's rows together, in order), at densities on both sides of one
    half and near the ends: the int16 partial sums wrap, the results equal the int64 product
    (n_in 44: the byte scan only; 48: words too)."""
    rng = np.random.default_rng(n_in)
    w = wrapping_int16_rows(rng, n_in, 70)
    for density in (0.02, 0.3, 0.7, 0.98):
        quads = rng.random((3, 40, n_in // 4)) < density
        src = np.repeat(quads, 4, axis=2).astype(np.int8)
        np.testing.assert_array_equal(summed_u(src, w, np.int16), expected_u(src, w),
                                      err_msg=f"density {density}")


@pytest.mark.parametrize(("n_in", "acc_dtype"), [(61, np.int16), (64, np.int16),
                                                 (300, np.int32), (512, np.int32)])
def test_extreme_int8_rows_in_int16_and_int32_sums(n_in, acc_dtype):
    """int8 rows at -128 and 127 (the kernel sign-extends them to the sums' width): fan-ins
    whose sums fit int16 (61, 64: |sum| <= 128 * 64) and ones that need int32 (300, 512)."""
    rng = np.random.default_rng(n_in)
    w = rng.choice(np.array([-128, -127, 0, 126, 127], np.int8), (n_in, 33))
    for density in (0.01, 0.1, 0.5, 0.9, 0.995):
        src = (rng.random((2, 30, n_in)) < density).astype(np.int8)
        np.testing.assert_array_equal(summed_u(src, w, acc_dtype), expected_u(src, w),
                                      err_msg=f"density {density}")


def one_layer(n_in: int, n_out: int) -> Graph:
    rng = np.random.default_rng(n_in + n_out)
    zero = np.zeros(n_out, np.int64)
    nodes = {"in": hw.SpikeInput(shape=(n_in,)),
             "w": hw.Dense(weights=rng.integers(-60, 80, (n_out, n_in)) * 2),
             "lif": hw.LIF(shape=(n_out,), du=1024, dv=256, vth=600, bias_mant=zero,
                           bias_exp=zero),
             "out": hw.SpikeOutput(shape=(n_out,))}
    edges = (("in", "w"), ("w", "lif"), ("lif", "out"))
    return check(Graph(level="hw", nodes=nodes, edges=edges))


@pytest.mark.parametrize(("n_in", "n_out", "density", "batch", "summed"), [
    (64, 512, 0.1, 2, True), (64, 512, 0.9, 2, True), (64, 512, 0.16, 2, False),
    (64, 128, 0.1, 2, False), (256, 10, 0.995, 1, True), (256, 10, 0.995, 2, True),
    (256, 10, 0.995, 4, False), (256, 10, 0.9, 1, False)])
def test_which_layers_are_summed(n_in, n_out, density, batch, summed, monkeypatch):
    """fast's rule: the summed rows where min(density, 1 - density) <= SPIKE_SUM_SHARE -
    SPIKE_SUM_SCAN / n_out (0.12 at 512 outputs, never at 128), or for a 10-neuron layer of
    one or two samples at 99.5 %; the outputs equal either way."""
    calls: list = []
    monkeypatch.setattr(fast, "dense_lif_run", lambda *a: calls.append(1) or
                        kernels.dense_lif_run(*a))
    graph = one_layer(n_in, n_out)
    x = (np.random.default_rng(3).random((batch, 60, n_in)) < density).astype(np.int8)
    chosen = simulate(graph, x, 60)
    assert bool(calls) == summed
    monkeypatch.setattr(fast, "SPIKE_SUM_SHARE", -1.0)
    monkeypatch.setattr(fast, "SPIKE_SUM_RARE", -1.0)
    other = simulate(graph, x, 60)
    np.testing.assert_array_equal(chosen.spikes["lif"], other.spikes["lif"])
