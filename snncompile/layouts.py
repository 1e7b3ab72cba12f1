"""Input array layouts, named and checked: frameworks disagree on where time goes.

btn  (batch, time, *input_shape)              snncompile's own
tbn  (time, batch, *input_shape)              snnTorch's time-first
nt   (*input_shape, time), one sample, or
     (batch, *input_shape, time)              Lava's time-last (RingBuffer data, lava-dl NCT)

An array that fits the model only in another layout (a transposed one) is refused in a sentence
naming the layout it fits, never silently reinterpreted. btn and tbn have the same rank and
trailing axes, so shape cannot tell them apart: the layout given is what the user states.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import InputError

LAYOUTS = {
    "btn": "(batch, time, *input_shape)",
    "tbn": "(time, batch, *input_shape)",
    "nt": "(*input_shape, time) or (batch, *input_shape, time)",
}


def _as_btn(x: np.ndarray, layout: str, n: int) -> np.ndarray | None:
    """x as (batch, time, *shape) if its rank fits `layout` for an n-dim input, else None."""
    if layout == "btn":
        return x if x.ndim == n + 2 else None
    if layout == "tbn":
        return np.swapaxes(x, 0, 1) if x.ndim == n + 2 else None
    if x.ndim == n + 1:  # one sample, time last
        return np.moveaxis(x, -1, 0)[None]
    return np.moveaxis(x, -1, 1) if x.ndim == n + 2 else None


def _fits(x: np.ndarray, layout: str, input_shape: tuple[int, ...]) -> np.ndarray | None:
    y = _as_btn(x, layout, len(input_shape))
    return y if y is not None and tuple(y.shape[2:]) == tuple(input_shape) else None


def to_btn(x: np.ndarray, layout: str, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    """x given in `layout`, as (batch, time, *input_shape); one sentence if it does not fit."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown input layout {layout!r} (known: {', '.join(LAYOUTS)})")
    y = _fits(x, layout, input_shape)
    if y is not None:
        return y
    shape = ", ".join(map(str, input_shape))
    others = [name for name in LAYOUTS
              if name != layout and _fits(x, name, input_shape) is not None]
    if others:
        raise InputError(
            f"{where}: input has shape {x.shape}, which fits the model only in layout "
            f"{others[0]} {LAYOUTS[others[0]]}, not {layout} {LAYOUTS[layout]}; give --layout "
            f"{others[0]} if that is how it was saved")
    raise InputError(f"{where}: input has shape {x.shape} but the model takes "
                     f"{LAYOUTS[layout].replace('*input_shape', shape)} in layout {layout}")


def from_btn(y: np.ndarray, layout: str, single: bool = False) -> np.ndarray:
    """An output (batch, time, *shape) written back in `layout` (`single`: the input was one
    time-last sample, so the output is too)."""
    if layout == "tbn":
        return np.swapaxes(y, 0, 1)
    if layout == "nt":
        return np.moveaxis(y[0] if single else y, 1 - single, -1)
    return y
