"""Rich tables on stdout, the form every command prints its rows in."""

from __future__ import annotations

from typing import Any


def table(title: str, rows: list[dict[str, Any]]) -> None:
    """One table: a column per key of the first row, floats to 4 significant digits."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    out = Table(title=title)
    for key in rows[0]:
        out.add_column(str(key), justify="left" if key in ("layer", "name") else "right")
    for row in rows:
        out.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(width=140).print(out)
