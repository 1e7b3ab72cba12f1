"""Window geometry shared by the nn and hw convolution and pooling ops and the front ends that
read them: (h, w) pairs, 'same' padding, PyTorch's output size."""

from __future__ import annotations

import numpy as np


def pair(value: object) -> tuple[int, int]:
    """(h, w) from an int, a pair, or a size-1/size-2 array (the forms torch and NIR files use)."""
    arr = np.asarray(value).ravel()
    if arr.size not in (1, 2):
        raise ValueError(f"expected one or two integers, got {value!r}")
    return (int(arr[0]), int(arr[-1]))


def same_padding(kernel: object, dilation: object) -> tuple[int, int]:
    """The symmetric padding of 'same' at stride 1; ValueError if the kernel needs uneven
    padding."""
    total = [d * (k - 1) for d, k in zip(pair(dilation), pair(kernel))]
    if any(t % 2 for t in total):
        raise ValueError("padding 'same' with an even kernel pads unevenly")
    return (total[0] // 2, total[1] // 2)


def conv_output_hw(size: tuple[int, int], kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output height/width of a PyTorch-style convolution or pooling window."""
    k, s, p, d = pair(kernel), pair(stride), pair(padding), pair(dilation)
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"stride {s} and dilation {d} must be at least 1 and padding {p} not "
                         "negative")
    h, w = ((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
    return h, w
