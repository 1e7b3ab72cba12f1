"""kernels.lif_run with a population's one decay factor pair (kernels.single_factors: 0-d
arrays, a numba variant of its own with the factors in registers) and with the same factors
per neuron, against an int64 numpy step loop written from the rule (spec §1.1/§1.2): equal u, v
and spikes at every step, for each reset mode, with inputs large enough to wrap u."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.sim import kernels


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) % 2**32) - 2**31


def _tz(x: np.ndarray, d: int) -> np.ndarray:
    p = x * d
    return np.sign(p) * (np.abs(p) >> 12)


def _rule(a, u, v, du, dv, vth, bias, reset):
    """(u, v, spikes) per step, batch x steps x n, in int64: the reference."""
    batch, steps, n = a.shape
    u, v, s_prev = u.copy(), v.copy(), np.zeros((batch, n), np.int64)
    out = np.zeros((3, batch, steps, n), np.int64)
    for t in range(steps):
        x = a[:, t - 1] if t else np.zeros((batch, n), np.int64)
        u1 = _wrap32(_tz(u, du) + _wrap32(x << 6))
        u = u1 - 2**24 * (u1 > 2**23) + 2**24 * (u1 <= -(2**23))
        pending = vth * s_prev if reset == 2 else 0
        v = np.clip(_wrap32(_tz(v, dv) + u + bias) - pending, -(2**23 - 1), 2**23 - 1)
        s = (v > vth).astype(np.int64)
        if reset == 0:
            v = np.where(s == 1, 0, v)
        elif reset == 1:
            v = v - vth * s
        s_prev = s
        out[:, :, t] = u, v, s
    return out


@pytest.mark.parametrize("reset", [0, 1, 2])
def test_one_factor_pair_equals_the_rule_and_the_per_neuron_arrays(reset):
    rng = np.random.default_rng(reset)
    batch, steps, n = 3, 40, 37  # n not a multiple of 16: the loop's remainder runs too
    a = rng.integers(-(2**18), 2**18, (batch, steps, n))
    a[:, ::5] = rng.integers(-(2**31), 2**31, (batch, 8, n))  # u wraps and corrections
    u0 = rng.integers(-(2**23) + 1, 2**23 + 1, (batch, n))
    v0 = rng.integers(-(2**23) + 1, 2**23, (batch, n))
    vth = rng.integers(0, 2**17 + 1, n) << 6
    bias = rng.integers(-(2**20), 2**20, n)
    for du, dv in ((0, 4096), (4096, 0), (3071, 3840), (1, 4095)):
        want = _rule(a, u0, v0, du, dv, vth, bias, reset)
        per_neuron = np.full(n, du, np.int64), np.full(n, dv, np.int64)
        single = kernels.single_factors(*per_neuron)
        assert single[0].ndim == 0 and single[1].ndim == 0
        for factors in (single, per_neuron):
            u, v = u0.copy(), v0.copy()
            s_prev = np.zeros((batch, n), np.int8)
            spikes = np.empty((batch, steps, n), np.int8)
            u_rec = np.empty((batch, steps, n), np.int32)
            v_rec = np.empty((batch, steps, n), np.int32)
            kernels.lif_run(a.astype(np.int32), 1, 6, u, v, s_prev, *factors, vth, bias, reset,
                            0, 0, 1, spikes, u_rec, v_rec, np.zeros(steps, np.int64), None)
            got = np.stack([u_rec, v_rec, spikes])
            assert np.array_equal(got, want), (du, dv, factors[0].ndim)


def test_single_factors_keeps_mixed_factors_per_neuron():
    du, dv = np.array([3071, 3071, 3000]), np.array([4096, 4096, 4096])
    kept = kernels.single_factors(du, dv)
    assert kept[0] is du and kept[1] is dv
    assert kernels.single_factors(du[:0], dv[:0])[0].shape == (0,)
