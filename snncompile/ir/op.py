"""Base class of IR ops: frozen dataclasses of parameters, arrays read-only, value equality."""

from __future__ import annotations

import dataclasses
import mmap
from typing import Any, ClassVar

import numpy as np


def frozen_array(value: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy of `value`, so ops can be shared between graphs without aliasing bugs.
    An array that is frozen already (read-only, its memory owned by itself or by a read-only
    array) is shared, not copied: a 33M-weight net would otherwise be copied at every op made."""
    if isinstance(value, np.ndarray) and (dtype is None or value.dtype == dtype) and (
            is_frozen(value)):
        return value
    arr = np.array(value, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def is_frozen(arr: np.ndarray) -> bool:
    """Nobody can write arr: it is read-only, and so is the array that owns its memory (or the
    SealedMemory it lies in)."""
    base = arr.base
    if isinstance(base, np.ndarray) and not base.flags.writeable:
        base = base.base
    elif base is not None and not isinstance(base, memoryview):
        return False
    return not arr.flags.writeable and (base is None or (
        isinstance(base, memoryview) and base.readonly and isinstance(base.obj, SealedMemory)))


class SealedMemory(mmap.mmap):
    """A read-only mapping that nobody can write any more (the HDF5 guard's hand-over: the child
    that filled it is gone, its file closed), so arrays over it are frozen, shared, not copied."""


@dataclasses.dataclass(frozen=True, eq=False)
class Op:
    """An IR op: parameters only, no state. Subclasses list their array fields in `array_fields`.

    `level` is "nn" or "hw"; `kind` tells the interpreters how data flows through the op:
    "input", "output", "synapse" (linear map, stateless), "neuron" (stateful, emits spikes).
    """

    level: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    array_fields: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        for name, dtype in self.array_fields.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozen_array(value, dtype))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one time step of this op's output, given its (summed) input's shape."""
        return input_shape

    def params(self) -> dict[str, Any]:
        """Field values by name, in declaration order (the stable text form relies on the order)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Op:
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        for name, a in self.params().items():
            b = getattr(other, name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (np.shape(a) == np.shape(b) and np.array_equal(a, b)):
                    return False
            elif a != b:
                return False
        return True

    def __hash__(self) -> int:
        return hash(type(self).__name__)


class NNOp(Op):
    """Base of the nn-level ops (nn_ops.py, nn_neurons.py, lowered_ops.py)."""

    level: ClassVar[str] = "nn"
