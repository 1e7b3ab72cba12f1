"""The one jinja2 set-up for generated files (Lava programs, Verilog): a target's templates/ folder,
StrictUndefined so a missing value fails the build instead of writing an empty string."""

from __future__ import annotations

from importlib import resources

import jinja2


def environment(target: str) -> jinja2.Environment:
    root = resources.files("snncompile.targets") / target / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
