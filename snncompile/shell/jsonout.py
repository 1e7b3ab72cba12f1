"""`--json`: one JSON document on stdout, numpy numbers and paths written as plain values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def echo(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=_plain))


def compile_document(result: Any, target: str) -> dict[str, Any]:
    """What `snncompile MODEL` prints, as data: the layer table, weight bits, placement."""
    placement = result.placement
    return {
        "target": target,
        "out_dir": result.out_dir,
        "layers": result.summary(),
        "weight_bits": getattr(result.report, "weight_bits", None),
        "warnings": list(getattr(result.report, "warnings", ())),
        "placement": None if placement is None else {
            "summary": placement.summary(), "cores": placement.utilization_rows()},
    }
