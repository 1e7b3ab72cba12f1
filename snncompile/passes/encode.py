"""Integer encodings of weights and biases that Lava's preprocessing keeps exactly (spec §2.1,
§4.3).

Values come in threshold units (1.0 = one firing threshold per step); `vth` is the layer's integer
threshold, so one hw input unit (a = 1, u += 64) is 1/vth threshold. A Dense weight W with exponent
e adds W * 2^e / vth thresholds; a bias b (mant * 2^exp raw v units) adds b / (64 vth).

`bits` is the synapse's num_weight_bits N (1..8): Lava truncates the low k = 8 - N (+1 if mixed)
bits of every Dense weight, so the encodable integers are the multiples of 2^k that survive the
clip. Conv has no such field in Lava; snncompile restricts Conv weights to the same grid (N-bit
magnitude, plus sign) so that N means the same precision for both kinds of synapse.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.target import Target


@dataclasses.dataclass(frozen=True)
class WeightCode:
    """Encoded weights: W * 2^weight_exp / vth approximates the threshold-unit weights."""

    weights: np.ndarray
    weight_exp: int
    sign_mode: str
    lsb: float  # threshold units between neighbouring representable weights
    max_err: float  # max |dequantized - wanted|, threshold units (<= lsb / 2)
    floor_err: float  # a negative exponent floors each fan-in sum: up to 1 / vth per step
    step: int = 1  # integer spacing of the grid (2^k: the bits Lava truncates stay zero)

    @property
    def bits(self) -> int:
        """Bits the largest weight magnitude uses above the truncated ones, plus a sign bit for
        mixed signs (at most num_weight_bits). From the weights' extremes: floor division by
        the step is monotonic, so the extremes of weights // step are theirs divided."""
        w_min, w_max = extremes(self.weights)
        top, bottom = max(int(w_max), 0) // self.step, min(int(w_min), 0) // self.step
        if self.sign_mode != "mixed":
            return max(abs(top), abs(bottom)).bit_length()
        return max(top.bit_length(), (-bottom - 1).bit_length()) + 1


def floors_sums(code: WeightCode) -> bool:
    """True if Lava's shift by a negative weight_exp can drop bits of a fan-in sum: some weight
    has a non-zero bit below 2^-weight_exp (weights all on that grid shift exactly)."""
    if code.weight_exp >= 0:
        return False
    mask = (1 << -code.weight_exp) - 1
    flat = code.weights.reshape(-1)  # by chunks, to the first such weight: no full temporary
    return code.step & mask != 0 and any(np.bitwise_and(flat[a:a + CHUNK], mask).any()
                                         for a in range(0, flat.size, CHUNK))


def check_weight_bits(bits: object, target: Target) -> int:
    """`bits` as an int if it is a num_weight_bits the target's Dense holds, else one sentence."""
    top = target.num_weight_bits_max
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= top:
        raise SnnCompileError(f"weight bits must be an integer from 1 to {top} (the "
                              f"num_weight_bits of target {target.name!r}), not {bits!r}")
    return int(bits)


Extremes = tuple[float, float]  # (min, max) of an array, (0, 0) when it is empty


def extremes(x: np.ndarray) -> Extremes:
    """(min, max) of x: one pass each, computed once per array by callers that ask repeatedly
    (the threshold search asks for every candidate; a 16M-weight layer costs 0.1 s a pass)."""
    x = np.asarray(x)
    return (x.min().item(), x.max().item()) if x.size else (0.0, 0.0)


def sign_mode_of(x: np.ndarray, ext: Extremes | None = None) -> str:
    """Lava's rule (spec §2.1): excitatory if all >= 0, inhibitory if all <= 0, else mixed.
    `ext`: x's extremes, if known."""
    lo, hi = extremes(x) if ext is None else ext
    if lo >= 0:
        return "excitatory"
    return "inhibitory" if hi <= 0 else "mixed"


def limits(mode: str, target: Target, conv: bool, bits: int = 8) -> tuple[int, int, int]:
    """(lowest, highest, step) of integer weights that survive Lava unchanged at num_weight_bits
    `bits`: the full-width grid's step times 2^(8 - bits), its ends rounded toward zero onto it."""
    if conv:
        lo, hi, step = target.conv_weight_min, target.conv_weight_max, 1
    elif mode == "mixed":
        lo, hi, step = target.mixed_weight_min, target.mixed_weight_max, 2
    elif mode == "inhibitory":
        lo, hi, step = target.inh_weight_min, 0, 1
    else:
        lo, hi, step = 0, target.exc_weight_max, 1
    step <<= target.weight_bits - bits
    return -(-lo // step * step), hi // step * step, step


def _round(x: np.ndarray | float, step: int) -> np.ndarray:
    return step * np.rint(np.asarray(x, dtype=np.float64) / step)


def fit_exponent(x: np.ndarray, vth: int, target: Target, conv: bool = False,
                 exps: tuple[int, int] | None = None, bits: int = 8,
                 ext: Extremes | None = None) -> int | None:
    """Smallest weight exponent whose integer grid holds every value of x, or None."""
    ext = extremes(x) if ext is None else ext
    lo, hi, step = limits(sign_mode_of(x, ext), target, conv, bits)
    top, bottom = float(max(ext[1], 0)), float(min(ext[0], 0))
    e_min, e_max = (0, 0) if conv else exps or (target.weight_exp_min, target.weight_exp_max)
    for e in range(e_min, e_max + 1):
        q = vth / 2.0**e
        if _round(top * q, step) <= hi and _round(bottom * q, step) >= lo:
            return e
    return None


CHUNK = 1 << 18  # values encoded at a time: temporaries stay in cache, not 16M-value copies


def encode_weights(x: np.ndarray, vth: int, e: int | None, target: Target, conv: bool = False,
                   bits: int = 8, ext: Extremes | None = None) -> WeightCode:
    """Round x (threshold units) to the grid W * 2^e / vth with Lava-exact integers W; `e` is
    fit_exponent's answer, None if no exponent fits. Chunk by chunk, each value by the same float
    operations as step * rint(x * q / step), so the same integers; the weights come back
    read-only, so the hw op made from them shares them instead of copying."""
    if e is None:
        raise ValueError(f"no weight exponent fits at vth {vth}")
    mode = sign_mode_of(x, ext)
    lo, hi, step = limits(mode, target, conv, bits)
    q, scale = vth / 2.0**e, 2.0**e
    flat = np.asarray(x).reshape(-1)
    weights = np.empty(flat.shape, np.int64)
    max_err, fits = 0.0, True
    for a in range(0, flat.size, CHUNK):
        part = flat[a:a + CHUNK]
        w = np.asarray(part * q, dtype=np.float64)
        if step != 1:
            w /= step
        np.rint(w, out=w)
        if step != 1:
            w *= step
        fits = fits and lo <= w.min() and w.max() <= hi
        weights[a:a + CHUNK] = w
        w *= scale  # the dequantized value, then its error
        w /= vth
        w -= part
        max_err = max(max_err, float(np.abs(w, out=w).max()))
    if not fits:
        raise ValueError(f"weights do not fit exponent {e} at vth {vth}")
    weights.setflags(write=False)  # the owner too, so a view of it counts as frozen
    return WeightCode(weights.reshape(np.shape(x)), int(e), mode, step * 2.0**e / vth, max_err,
                      (1.0 / vth) if e < 0 else 0.0, int(step))


def error_estimate(x: np.ndarray, vth: int, e: int, target: Target, conv: bool,
                   exact_limit: int = 1 << 16, bits: int = 8, ext: Extremes | None = None) -> float:
    """Max weight error + floor error for ranking: exact for small arrays, lsb/2 for large unless
    an evenly spaced sample of exact_limit values sits on the grid (weights trained on it, QAT):
    then exact, so the grid they were trained for wins the search."""
    if x.size <= exact_limit:
        code = encode_weights(x, vth, e, target, conv, bits, ext)
        return code.max_err + code.floor_err
    flat = np.asarray(x).reshape(-1)
    sample = encode_weights(flat[::flat.size // exact_limit], vth, e, target, conv, bits, ext)
    if sample.max_err <= sample.lsb * 1e-6:
        code = encode_weights(x, vth, e, target, conv, bits, ext)
        return code.max_err + code.floor_err
    return sample.lsb / 2 + sample.floor_err


@dataclasses.dataclass(frozen=True)
class BiasCode:
    mant: np.ndarray
    exp: np.ndarray
    max_err: float  # threshold units
    clipped: int  # neurons whose bias exceeded mant_max * 2^exp_max


def encode_bias(b: np.ndarray, vth: int, target: Target) -> BiasCode:
    """bias_mant * 2^bias_exp = 64 vth b (raw v units), per neuron, smallest exponent that fits."""
    raw = 64.0 * vth * np.asarray(b, dtype=np.float64)
    mant = np.zeros(raw.shape, dtype=np.int64)
    exp = np.full(raw.shape, target.bias_exp_min, dtype=np.int64)
    done = np.zeros(raw.shape, dtype=bool)
    for e in range(target.bias_exp_min, target.bias_exp_max + 1):
        m = np.rint(raw / 2.0**e)
        ok = ~done & (m >= target.bias_mant_min) & (m <= target.bias_mant_max)
        mant[ok], exp[ok], done = m[ok].astype(np.int64), e, done | ok
    clipped = int(np.count_nonzero(~done))
    if clipped:
        e = target.bias_exp_max
        mant[~done] = np.clip(np.rint(raw[~done] / 2.0**e), target.bias_mant_min,
                              target.bias_mant_max)
        exp[~done] = e
    err = np.abs(mant * 2.0**exp - raw) / (64.0 * vth)
    return BiasCode(mant, exp, float(err.max(initial=0)), clipped)
