"""The one jinja2 set-up for generated files (Lava programs, Verilog): a target's templates/ folder,
StrictUndefined so a missing value fails the build instead of writing an empty string."""

from __future__ import annotations

from pathlib import Path

import jinja2

from snncompile.target import Target, load_target


def environment(target: str | Path | Target) -> jinja2.Environment:
    """The templates of a target (registered name, folder or Target): its templates/ folder."""
    root = load_target(target).templates
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
