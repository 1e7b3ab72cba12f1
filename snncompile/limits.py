"""Resource budgets checked before anything is allocated: a model file that declares an absurd
shape, or an input of billions of entries, is refused with the numbers instead of exhausting
memory ("Unable to allocate 233 TiB") or time. Each budget can be raised by an environment
variable for the rare real network that needs it."""

from __future__ import annotations

import os

from snncompile.errors import SnnCompileError

# name -> (environment variable, default, what it bounds)
BUDGETS: dict[str, tuple[str, float, str]] = {
    "model_bytes": ("SNNCOMPILE_MAX_MODEL_BYTES", 2 << 30, "bytes of data in a model file"),
    "read_seconds": ("SNNCOMPILE_READ_SECONDS", 30.0, "seconds to read an HDF5 model file"),
    "neurons": ("SNNCOMPILE_MAX_NEURONS", 50_000_000, "neurons in a network"),
    "synapses": ("SNNCOMPILE_MAX_SYNAPSES", 4_000_000_000, "synapses (connections) in a network"),
    "weights": ("SNNCOMPILE_MAX_WEIGHTS", 500_000_000, "stored weights of one layer"),
    "input_entries": ("SNNCOMPILE_MAX_INPUT_ENTRIES", 2_000_000_000,
                      "entries of an input array (batch x steps x neurons)"),
    "work": ("SNNCOMPILE_MAX_WORK", 5e12, "synaptic events to simulate (batch x steps x synapses)"),
    "icarus_work": ("SNNCOMPILE_MAX_ICARUS_WORK", 6e7,
                    "synaptic events to simulate in Icarus (batch x hw steps x synapses)"),
}


class BudgetError(SnnCompileError):
    """A declared size is over a resource budget."""


def budget(name: str) -> float:
    """The budget `name`, from its environment variable if set."""
    env, default, _ = BUDGETS[name]
    raw = os.environ.get(env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SnnCompileError(f"{env}={raw!r} is not a number") from None
    if not value > 0:
        raise SnnCompileError(f"{env}={raw!r} must be positive")
    return value


def require(name: str, value: float, where: str) -> None:
    """Raise BudgetError naming `where`, the value and the budget if value > budget(name)."""
    limit = budget(name)
    if value > limit:
        env, _, what = BUDGETS[name]
        raise BudgetError(f"{where}: {value:,.0f} {what}, over the budget of {limit:,.0f} "
                          f"(raise {env} if this is intended)")


def check_shape(shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """A declared per-step shape: positive integers, at most the neuron budget in all."""
    if any(int(d) <= 0 for d in shape):
        raise BudgetError(f"{where}: shape {tuple(shape)} has an empty or negative dimension")
    size = 1
    for d in shape:
        size *= int(d)
    require("neurons", size, f"{where}: shape {tuple(shape)}")
    return tuple(int(d) for d in shape)
