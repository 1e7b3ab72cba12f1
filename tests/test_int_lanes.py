"""int_lanes.decay, compiled into vector loops as the kernels inline it, against the plain
integer rule tz(x * factor / 4096) in Python integers (exact, no int32 split): every int32
extreme with every factor 0..4096, and random int32 values with random factors."""

from __future__ import annotations

import numba
import numpy as np
import pytest

EXTREMES = np.array(sorted({s * m + o for s in (1, -1)
                            for m in (0, 1, 4095, 4096, 2**12 + 1, 2**23 - 1, 2**23, 2**24,
                                      2**24 + 7, 2**27, 2**30)
                            for o in (0, 1, -1)} | {-(2**31), 2**31 - 1, -(2**31) + 1}),
                    np.int64)


def _truncated(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """tz(x * factor / 4096) with Python integers (objects, so nothing wraps or rounds)."""
    p = x.astype(object) * factor.astype(object)
    return np.array([q // 4096 if q >= 0 else -((-q) // 4096) for q in p], np.int64)


@pytest.fixture(scope="module")
def loops():
    """decay over arrays, once with one factor for the whole loop (hoisted, so the mask
    leaves the loop, as in batched_steps) and once with a factor per element (kernels)."""
    from snncompile.sim import int_lanes

    _, decay, wide_vectors = int_lanes.compiled()

    @numba.njit
    def one_factor(x, factor, out):
        wide_vectors()
        for j in range(x.shape[0]):
            out[j] = decay(x[j], factor)

    @numba.njit
    def per_element(x, factors, out):
        wide_vectors()
        for j in range(x.shape[0]):
            out[j] = decay(x[j], factors[j])

    return one_factor, per_element


def test_decay_is_exact_on_every_extreme_with_every_factor(loops):
    one_factor, per_element = loops
    x = EXTREMES.astype(np.int32)
    for factor in range(4097):
        out = np.empty_like(x)
        one_factor(x, np.int32(factor), out)
        expected = _truncated(EXTREMES, np.full(len(x), factor))
        assert np.array_equal(out, expected.astype(np.int32)), factor
    xs = np.repeat(x, 4097)
    factors = np.tile(np.arange(4097, dtype=np.int32), len(x))
    out = np.empty_like(xs)
    per_element(xs, factors, out)
    assert np.array_equal(out, _truncated(xs.astype(np.int64), factors).astype(np.int32))


def test_decay_is_exact_on_random_int32_values(loops):
    one_factor, per_element = loops
    rng = np.random.default_rng(19)
    x = rng.integers(-(2**31), 2**31, 200_000, dtype=np.int64)
    x[::2] >>= rng.integers(0, 31, 100_000)  # every magnitude, not only the large ones
    factors = rng.integers(0, 4097, len(x))
    out = np.empty(len(x), np.int32)
    per_element(x.astype(np.int32), factors.astype(np.int32), out)
    assert np.array_equal(out, _truncated(x, factors).astype(np.int32))
    for factor in (0, 1, 2047, 3071, 3840, 4095, 4096):
        one_factor(x.astype(np.int32), np.int32(factor), out)
        assert np.array_equal(out, _truncated(x, np.full(len(x), factor)).astype(np.int32))
