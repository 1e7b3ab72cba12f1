"""Which sweep points are Pareto-optimal: no other point is at least as good on every objective
and better on one. Objectives are (key, sense), sense +1 to maximize, -1 to minimize."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

OBJECTIVES: tuple[tuple[str, int], ...] = (("accuracy", +1), ("energy_uj", -1), ("cores", -1))


def dominates(a: dict[str, Any], b: dict[str, Any],
              objectives: Sequence[tuple[str, int]] = OBJECTIVES) -> bool:
    """a is at least as good as b on every objective and strictly better on one."""
    better = False
    for key, sense in objectives:
        if sense * a[key] < sense * b[key]:
            return False
        better = better or sense * a[key] > sense * b[key]
    return better


def front(rows: Sequence[dict[str, Any] | None],
          objectives: Sequence[tuple[str, int]] = OBJECTIVES) -> list[int]:
    """Indices of the rows no other row dominates, in order; a None row (a point that did not
    compile) takes no part. Rows with equal objectives are all kept."""
    live = [i for i, row in enumerate(rows) if row is not None]
    return [i for i in live
            if not any(dominates(rows[j], rows[i], objectives)  # type: ignore[arg-type]
                       for j in live if j != i)]
